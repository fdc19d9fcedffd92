"""map_chunks: input order, bounded reading, errors, one copy of the task per worker."""

from __future__ import annotations

import time

import pytest

from policy_themes.errors import DataError
from policy_themes.parallel import map_chunks, resolve_jobs


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
    assert resolve_jobs(3) == 3
    assert resolve_jobs(None) >= 1
    assert resolve_jobs(0) == resolve_jobs(-1) == resolve_jobs(None)
