"""map_chunks: input order, bounded reading, errors, one copy of the task per worker."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time

import pytest

from policy_themes.errors import DataError
from policy_themes.parallel.pool import map_chunks, resolve_jobs


def slow_square(x: int) -> int:
    time.sleep(0.01 * (x % 3))  # later chunks often finish first
    return x * x


def blas_threads(_) -> list[int]:
    import numpy  # noqa: F401  (loads BLAS if the worker has not yet)
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info()]


def fail_on_three(x: int) -> int:
    if x == 3:
        raise DataError("chunk 3 is bad")
    return x


class CountingTask:
    """A task that notes in a file every time it is pickled (sent to a worker)."""

    def __init__(self, log):
        self.log = log

    def __getstate__(self):
        with open(self.log, "a") as handle:
            handle.write("pickled\n")
        return self.__dict__

    def __call__(self, x):
        return x + 1


def test_results_come_in_input_order_with_two_jobs():
    assert list(map_chunks(slow_square, range(20), jobs=2)) == [x * x for x in range(20)]


def test_workers_use_one_blas_thread_each():
    # a BLAS pool per worker would spin on the core of the other worker after every product
    results = list(map_chunks(blas_threads, range(4), jobs=2))
    assert results and all(threads and set(threads) == {1} for threads in results)


def test_one_job_runs_here_and_needs_no_pickling():
    offset = 10
    assert list(map_chunks(lambda x: x + offset, [1, 2], jobs=1)) == [11, 12]


def test_a_single_chunk_is_done_without_a_pool():
    # a lambda cannot be pickled: this only works because no pool is started
    assert list(map_chunks(lambda x: -x, [5], jobs=2)) == [-5]


def test_reading_stays_bounded():
    consumed = []

    def chunks():
        for x in range(30):
            consumed.append(x)
            yield x

    for yielded, _ in enumerate(map_chunks(slow_square, chunks(), jobs=2, max_pending=2),
                                start=1):
        assert len(consumed) - yielded <= 3  # max_pending in flight, plus one being read


def test_a_worker_error_reaches_the_caller_with_its_type():
    with pytest.raises(DataError, match="chunk 3 is bad"):
        list(map_chunks(fail_on_three, range(10), jobs=2))


def test_the_task_is_sent_once_per_worker_not_per_chunk(tmp_path):
    log = tmp_path / "pickles.log"
    assert list(map_chunks(CountingTask(log), range(40), jobs=2)) == list(range(1, 41))
    assert len(log.read_text().splitlines()) <= 2


def test_resolve_jobs():
    from policy_themes.parallel.pool import available_cores

    cores = available_cores()
    assert resolve_jobs(1) == 1
    assert resolve_jobs(3) == min(3, cores)
    assert resolve_jobs(None) == cores
    assert resolve_jobs(0) == resolve_jobs(-1) == resolve_jobs(None)
    assert resolve_jobs(100_000) == cores  # the API is capped as the command line is


def test_a_huge_jobs_starts_no_more_workers_than_cores(tmp_path):
    from policy_themes.parallel.pool import available_cores

    log = tmp_path / "pickles.log"
    assert list(map_chunks(CountingTask(log), range(40), jobs=100_000)) == list(range(1, 41))
    assert len(log.read_text().splitlines()) <= available_cores()


SHARING_MODULE = '''
import os

LOADED = {}


def load(argument):
    """Run by the fork server before it forks the workers."""
    if argument == "fail":
        raise RuntimeError("cannot load")
    LOADED["value"] = argument
    LOADED["pid"] = os.getpid()


class Task:
    def __init__(self, argument):
        self.argument = argument

    def preload_in_forks(self):
        return ("share_probe:load", self.argument)

    def __call__(self, x):
        return [x, LOADED.get("value"), LOADED.get("pid"), os.getpid(), os.getppid(),
                "POLICY_THEMES_PRELOAD_IN_FORKS" in os.environ]
'''

SHARING_SCRIPT = '''
import json, os, sys
from policy_themes.parallel.pool import map_chunks
from share_probe import Task

if __name__ == "__main__":
    print(json.dumps(list(map_chunks(Task(sys.argv[1]), range(6), jobs=2))))
    print("POLICY_THEMES_PRELOAD_IN_FORKS" in os.environ)
'''


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no fork server on this platform")
@pytest.mark.parametrize("argument", ["weights", "fail"])
def test_what_a_task_shares_is_loaded_once_in_the_fork_server(tmp_path, argument):
    # a fresh process: this one's fork server may be running already, with other preloads
    (tmp_path / "share_probe.py").write_text(SHARING_MODULE, encoding="utf-8")
    script = tmp_path / "share.py"
    script.write_text(SHARING_SCRIPT, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), argument], capture_output=True,
                         text=True, check=True, cwd=tmp_path).stdout.splitlines()
    results = json.loads(out[0])
    assert [r[0] for r in results] == list(range(6))
    assert out[1] == "False"  # the caller's environment is as it was
    for _, value, loaded_in, worker, parent, inherited in results:
        assert not inherited
        if argument == "fail":  # a failed preload only means the workers load for themselves
            assert value is None and loaded_in is None
        else:
            assert value == "weights" and loaded_in == parent != worker
