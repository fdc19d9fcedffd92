"""Get the worker processes of a run ready while the command is still starting.

:func:`~policy_themes.parallel.pool.map_chunks` forks its workers from a fork server that imports
their modules and, for ``predict``, loads and warms up the model (about a second). Started by
the pool, that second comes after this process has imported its own modules and read the
model; started here, first thing, both happen at once (``label``'s server only imports its
modules, which hides less).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from policy_themes.io.formats import is_text_document
from policy_themes.parallel.pool import resolve_jobs, start_fork_server

__all__ = ["prepare_predict_workers", "prepare_label_workers", "holds_at_least",
           "EARLY_START_BYTES", "SPLITTER_BYTES"]

# below this much input, a run is most likely one chunk (no workers): 1 MB is about 8,000
# sentences of text or CSV, 12,000 of Parquet, where a chunk is 20,000 by default
EARLY_START_BYTES = 1 << 20
# from this much input to split, the workers' time saved by the compiled splitter pays for
# loading it in the fork server
SPLITTER_BYTES = 16 << 20


def prepare_predict_workers(model_dir: str | Path, jobs: int | None,
                            inputs: Sequence[str | Path], documents: bool = False) -> bool:
    """Start the fork server of ``predict``'s workers now, loading the array model of
    ``model_dir`` (see :func:`~policy_themes.model.store.preload_model_dir`), when the run will use
    more than one process and ``inputs`` hold at least :data:`EARLY_START_BYTES`.

    When the workers split the inputs into sentences (tables read as ``documents``, text files,
    folders) and there are at least :data:`SPLITTER_BYTES` of them, the server loads the
    compiled splitter too (see :func:`~policy_themes.text.sentences.prepare_compiled_splitter`).

    Returns
    -------
    bool
        Whether it was started (if the input turns out to be a single chunk after all, no
        worker is forked and the server ends with this process).
    """
    preloads = [("policy_themes.model.store:preload_model_dir", str(model_dir))]
    return _prepare(["policy_themes.workflows.prediction"], preloads, jobs, inputs, documents)


def prepare_label_workers(jobs: int | None, inputs: Sequence[str | Path],
                          documents: bool = False) -> bool:
    """Start the fork server of ``label``'s workers now (it imports their modules), on the
    same terms as :func:`prepare_predict_workers`."""
    return _prepare(["policy_themes.workflows.batch_labeling"], [], jobs, inputs, documents)


def _prepare(modules: list[str], preloads: list[tuple[str, str]], jobs: int | None,
             inputs: Sequence[str | Path], documents: bool) -> bool:
    if resolve_jobs(jobs) <= 1:
        return False
    splits = _splits(inputs, documents)
    # one walk of the inputs, no further than the larger threshold that matters here
    size = _size_up_to(inputs, max(EARLY_START_BYTES, SPLITTER_BYTES if splits else 0))
    if size < EARLY_START_BYTES:
        return False
    if splits and size >= SPLITTER_BYTES:
        preloads = [*preloads, ("policy_themes.text.sentences:prepare_compiled_splitter", "")]
    start_fork_server(modules, preloads)
    return True


def _splits(inputs: Sequence[str | Path], documents: bool) -> bool:
    """Whether the workers split the inputs into sentences: tables read as documents, text
    files and folders of them."""
    return documents or any(path.is_dir() or is_text_document(path) for path in map(Path, inputs))


def holds_at_least(inputs: Sequence[str | Path], size: int) -> bool:
    """Whether the input files (those of folders included) add up to ``size`` bytes or more;
    missing files count nothing, and a large folder is not walked further than needed."""
    return _size_up_to(inputs, size) >= size


def _size_up_to(inputs: Sequence[str | Path], cap: int) -> int:
    """The input files' total size, counted until it reaches ``cap``."""
    total = 0
    for size_of_file in _file_sizes(inputs):
        total += size_of_file
        if total >= cap:
            break
    return total


def _file_sizes(inputs: Sequence[str | Path]):
    for path in map(Path, inputs):
        try:
            if not path.is_dir():
                yield path.stat().st_size
                continue
            for root, _, names in os.walk(path):
                for name in names:
                    yield os.path.getsize(os.path.join(root, name))
        except OSError:
            continue
