"""SIGTERM ends a command as Ctrl-C does: the same clean-up, exit code 143.

Python ends at once on SIGTERM (what ``kill``, a process manager or a batch scheduler sends):
no ``finally`` runs, so the worker processes and the fork server of a parallel run are left
behind, and so is the temporary file of an output being written. While a command runs, SIGTERM
raises :class:`Terminated` in the main thread instead, a ``KeyboardInterrupt``: everything that
cleans up after Ctrl-C cleans up after it too (the pool is shut down, temporary files are
removed, nothing is written), and the command exits with 128 + 15 = 143, the code of a process
ended by SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["Terminated", "terminate_like_interrupt", "exit_code", "interruption"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the run stops as after Ctrl-C."""


def _raise_terminated(signum, frame) -> None:
    # once: a second SIGTERM must not cut the clean-up of the first short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextlib.contextmanager
def terminate_like_interrupt():
    """While inside, SIGTERM raises :class:`Terminated` (in the main thread; elsewhere, where
    Python cannot set handlers, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is _raise_terminated:  # else: ignored until exit,
            signal.signal(signal.SIGTERM, previous)  # so that the clean-up runs to its end


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """143 after SIGTERM, 130 after Ctrl-C (128 + the signal's number)."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def interruption(interrupt: KeyboardInterrupt) -> str:
    """How the run ended, for the line that says so: ``Terminated`` or ``Interrupted``."""
    return "Terminated" if isinstance(interrupt, Terminated) else "Interrupted"
