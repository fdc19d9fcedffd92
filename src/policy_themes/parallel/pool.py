"""Process a stream of chunks on several cores, results in input order, memory bounded.

:func:`map_chunks` applies a *task* (a picklable callable holding what every chunk needs, such as
a model or a compiled rule set) to each chunk of an iterator. With ``jobs=1`` it runs in the
calling process; otherwise a pool of ``jobs`` worker processes receives the task **once**, when
each worker starts, and then only the chunks travel. At most ``max_pending`` chunks are in flight
at a time, so reading a file larger than memory stays bounded, and results come back in the order
of the chunks, so the output of a run is the same whatever the number of jobs.

Where the platform has one, the workers are forked from a fork server that has imported their
modules and loaded what the task preloads (a model, see ``preload_in_forks``), so they start ready
and hold one copy of it between them; :func:`start_fork_server` starts it ahead of the run.
"""

from __future__ import annotations

import gc
import itertools
import json
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

__all__ = ["map_chunks", "resolve_jobs", "available_cores", "start_fork_server",
           "one_line_warnings"]

T = TypeVar("T")
R = TypeVar("R")

_TASK: Callable | None = None  # the task of this worker process, set once by _init_worker


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


def resolve_jobs(jobs: int | None) -> int:
    """The number of worker processes for ``jobs``: None, 0 or a negative number means every
    available core (as ``--jobs`` of ``train`` does), and no more than those cores are ever
    used (``jobs=100000`` would start 100,000 processes). The one place, for the command line
    and the Python API alike, where a number of jobs becomes a number of processes."""
    cores = available_cores()
    if jobs is None or jobs <= 0:
        return cores
    return min(int(jobs), cores)


def _init_worker(task: Callable) -> None:
    """Keep the task in the worker; Ctrl-C and SIGTERM are the parent's to handle; one BLAS
    thread, since the pool has a process per core already; warnings on one line, as the
    command's; what the worker holds by now is frozen out of the garbage collector's walks.

    SIGTERM sent to the whole process group (as some process managers do) would otherwise kill
    a worker while it sends a result, and the pool's manager thread would wait for the rest of
    that result for ever: the parent stops the workers instead, as after Ctrl-C.
    """
    global _TASK
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    one_line_warnings()
    return_freed_memory()
    one_blas_thread()
    _TASK = task
    gc.freeze()  # what the worker holds for good (the task) is no longer walked by collections


def one_line_warnings() -> None:
    """Print this process's warnings as the command line does: one ``Warning: ...`` line on
    stderr, without Python's file, line number and source line (for the fork server and the
    workers, whose warnings reach the same terminal)."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"Warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)

    warnings.showwarning = show


def one_blas_thread() -> None:
    """Limit this process's BLAS and OpenMP pools to one thread: the environment variables for
    libraries loaded later, threadpoolctl (which comes with scikit-learn) for those loaded
    already."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def return_freed_memory() -> None:
    """Serve allocations over 4 MiB with ``mmap`` (glibc only; elsewhere nothing happens).

    glibc raises its mmap threshold after each large block is freed (up to 32 MiB), so the large
    arrays of later batches come from the heap, which keeps its peak; with the threshold fixed,
    a batch's big arrays go back to the system when it is done: a lower peak for the same wall
    time. A much lower threshold saves more memory but costs CPU (a page fault for every
    fresh page of every array).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 22)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _run_task(chunk):
    return _TASK(chunk)


def _context(task: Callable):
    """forkserver where there is one (no fork of a threaded parent), else spawn.

    The fork server, started once per process, imports the task's module before forking any
    worker, so workers start without importing scikit-learn and pandas each. A task with a
    ``preload_in_forks()`` method (a ``module:function`` and its string argument, or None) has
    that function called in the fork server too, before it forks: what it loads (a model's
    weights, say) is then one copy in memory for all the workers, not one each.
    """
    if not _has_fork_server():
        return multiprocessing.get_context("spawn")
    module = getattr(task, "__module__", None)  # a function's, or an instance's class's
    preload = getattr(task, "preload_in_forks", None)
    shared = preload() if preload is not None else None
    start_fork_server([module] if module and module.startswith("policy_themes.") else [],
                      [shared] if shared is not None else [])
    return multiprocessing.get_context("forkserver")


def _has_fork_server() -> bool:
    return sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods()


PRELOAD_ENV = "POLICY_THEMES_PRELOAD_IN_FORKS"  # read by .fork_server when the fork server starts


def start_fork_server(modules: Sequence[str] = (), preloads: Sequence[tuple[str, str]] = ()
                      ) -> None:
    """Start this process's fork server, which :func:`map_chunks` forks its workers from, now.

    It imports ``modules`` and calls each of ``preloads`` (a ``module:function`` and its string
    argument), before it forks any worker: the workers then start with what they import and
    load, and share one copy of it. Starting it early, while this process is still
    getting ready, hides that work. Nothing happens where there is no fork server, or when it
    runs already (the workers then load what they need themselves).

    Parameters
    ----------
    modules : sequence of str
        Modules to import (``__main__`` and this module always are).
    preloads : sequence of (str, str), default=()
        ``("package.module:function", argument)`` pairs, called in order.
    """
    if not _has_fork_server():
        return
    from multiprocessing import forkserver

    preload = ["__main__", __name__, *modules, f"{__package__}.fork_server"]
    environment = {PRELOAD_ENV: json.dumps([list(pair) for pair in preloads])} if preloads else {}
    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        forkserver.ensure_running()  # the server takes its environment from ours
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def map_chunks(task: Callable[[T], R], chunks: Iterable[T], *, jobs: int | None = 1,
               max_pending: int | None = None) -> Iterator[R]:
    """Apply ``task`` to every chunk, on ``jobs`` processes, yielding results in chunk order.

    Parameters
    ----------
    task : callable
        Called as ``task(chunk)``. With several jobs it must be picklable (a module-level
        function or an instance of a module-level class); it is sent to each worker once.
    chunks : iterable
        The chunks, read lazily: only ``max_pending`` of them are held at a time.
    jobs : int, default=1
        Worker processes; 1 runs everything in this process, None or 0 uses every core.
    max_pending : int, default=None
        Chunks submitted but not yet yielded; None means twice ``jobs``.

    Yields
    ------
    object
        ``task(chunk)`` for each chunk, in the order of ``chunks``.

    Raises
    ------
    Exception
        Whatever ``task`` raised for the first chunk that failed (the package's own errors keep
        their type); chunks not yet started are cancelled.

    Examples
    --------
    >>> list(map_chunks(len, [[1, 2], [3]], jobs=1))
    [2, 1]
    """
    jobs = resolve_jobs(jobs)
    chunks = iter(chunks)
    if jobs > 1:
        # a pool costs a second or two to start: an input of one chunk is done here
        head = list(itertools.islice(chunks, 2))
        if len(head) < 2:
            jobs = 1
        chunks = itertools.chain(head, chunks)
    if jobs == 1:
        for chunk in chunks:
            yield task(chunk)
        return
    from concurrent.futures import ProcessPoolExecutor

    limit = max(max_pending or 2 * jobs, 1)
    pending: deque = deque()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=_context(task),
                               initializer=_init_worker, initargs=(task,))
    try:
        for chunk in chunks:
            if len(pending) >= limit:
                yield pending.popleft().result()
            pending.append(pool.submit(_run_task, chunk))
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
