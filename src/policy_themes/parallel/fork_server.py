"""Imported by the fork server of :func:`~policy_themes.parallel.pool.map_chunks` only, last, before
it forks any worker: calls each ``module:function`` with its argument that the run named (in
the environment variable :data:`~policy_themes.parallel.pool.PRELOAD_ENV`), so that what they
load is shared by every worker forked afterwards, then freezes what the server holds
(``gc.freeze``): the workers' garbage collections no longer walk the objects of the imported
modules and the model, which also keeps their pages shared.

A worker still being forked when the run ends (Ctrl-C, SIGTERM, an error) finds its pool's
semaphores gone as it starts; it then exits without the traceback multiprocessing would print
beside the run's one line (:func:`quiet_when_the_pool_is_gone`).

A failure here costs only time: the workers then load what they need themselves, and report
any error as they would have.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import sys
import traceback

from policy_themes.parallel.pool import PRELOAD_ENV, one_line_warnings


def _share_from_environment() -> None:
    raw = os.environ.pop(PRELOAD_ENV, None)  # not inherited by the workers
    if not raw:
        return
    try:
        preloads = json.loads(raw)
    except ValueError:
        return
    for pair in preloads:
        try:
            target, argument = pair
            module, _, function = target.partition(":")
            getattr(importlib.import_module(module), function)(argument)
        except Exception:  # noqa: BLE001 - the fork server must start whatever happens here
            pass


def quiet_when_the_pool_is_gone(hook):
    """``hook`` (a ``sys.excepthook``), silent for the one error of a worker forked as its run
    ends: rebuilding its pool's semaphore, unlinked by the ending run, finds no such file."""

    def excepthook(kind, value, tb) -> None:
        frames = traceback.extract_tb(tb)
        if issubclass(kind, FileNotFoundError) and frames and \
                frames[-1].filename.endswith(os.path.join("multiprocessing", "synchronize.py")):
            return
        hook(kind, value, tb)

    return excepthook


sys.excepthook = quiet_when_the_pool_is_gone(sys.excepthook)
one_line_warnings()  # a model's warm-up may warn (Numba's cache, say): one line, as the CLI's
# SIGTERM is the parent's to handle (see pool._init_worker), from the moment a worker is forked;
# the server itself ends when the parent does
signal.signal(signal.SIGTERM, signal.SIG_IGN)
_share_from_environment()
gc.freeze()
