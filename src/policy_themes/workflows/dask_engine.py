"""Run past one machine on Dask: predictions over many files, and cross-validation folds.

Dask is an optional extra (``pip install 'policy-themes[dask]'``) and is imported only here, when
it is used. Two entry points:

- :func:`predict_dask` predicts every input file (globs allowed) on the workers of a Dask cluster
  and writes a folder of Parquet parts, one per input file, in input order (read it back with
  ``pandas.read_parquet(folder)`` or ``dask.dataframe.read_parquet(folder)``);
- :func:`dask_backend` runs joblib work, such as the cross-validation folds of
  :func:`~policy_themes.workflows.training.train`, on the cluster.

Both connect to the scheduler at ``scheduler`` (``tcp://host:8786``) or, when it is None, start
a :class:`distributed.LocalCluster` of two single-threaded worker processes. On a real cluster
every worker must see the input files, the output folder and the package under the same paths
(a shared file system and the same environment).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from policy_themes.errors import ConfigError, DataError

__all__ = ["require_dask", "dask_client", "dask_backend", "predict_dask", "DaskPredictRun",
           "expand_globs"]

INSTALL_HINT = "pip install 'policy-themes[dask]'"


def require_dask() -> None:
    """Check that Dask and distributed can be imported.

    Raises
    ------
    ConfigError
        If either is missing; the message says what to install.
    """
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--engine dask needs Dask ({exc.name} is not installed): "
                          f"{INSTALL_HINT}") from None


@contextlib.contextmanager
def dask_client(scheduler: str | None = None) -> Iterator:
    """A ``distributed.Client`` for the scheduler at ``scheduler``, else on a local cluster.

    Parameters
    ----------
    scheduler : str, default=None
        Scheduler address, e.g. ``tcp://10.0.0.5:8786``; None starts
        ``LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)`` and closes
        it afterwards.

    Raises
    ------
    ConfigError
        If Dask is not installed or the scheduler cannot be reached.
    """
    require_dask()
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="10s")
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def dask_backend(scheduler: str | None = None) -> Iterator:
    """Run joblib work (cross-validation folds) on a Dask cluster inside the ``with`` block.

    Examples
    --------
    >>> from policy_themes.workflows.training import train                        # doctest: +SKIP
    >>> with dask_backend("tcp://10.0.0.5:8786"):                        # doctest: +SKIP
    ...     result = train(model_dir="models/default", n_jobs=-1)
    """
    import joblib

    with dask_client(scheduler) as client, joblib.parallel_config(backend="dask"):
        yield client


def expand_globs(patterns: Sequence[str | Path]) -> list[Path]:
    """Expand glob patterns (``data/*.parquet``), keeping plain paths and the given order.

    Raises
    ------
    DataError
        If a pattern matches nothing.
    """
    paths: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if glob.has_magic(text):
            found = sorted(glob.glob(text, recursive=True))
            if not found:
                raise DataError(f"{text}: no file matches")
            paths.extend(Path(p) for p in found)
        else:
            paths.append(Path(text))
    return paths


@dataclass
class DaskPredictRun:
    """What :func:`predict_dask` did: sentences predicted, the folder written, one part per
    input file (``parts``, in input order)."""

    sentences: int
    output: Path
    parts: list[Path]


def _predict_part(path: str, target: str, model, top_k: int, text_column: str,
                  documents: bool, doc_column: str | None, chunksize: int,
                  encoding: str | None) -> int:
    """Predict one input file on a worker, streaming it into one Parquet part."""
    from policy_themes.io.sentence_frames import iter_sentence_frames
    from policy_themes.io.writers import AtomicTableWriter
    from policy_themes.workflows.prediction import _PredictChunk

    task = _PredictChunk(model, top_k)
    frames = iter_sentence_frames([path], text_column=text_column, documents=documents,
                                  doc_column=doc_column,
                                  document_columns=model.context_settings.document_columns,
                                  chunksize=chunksize, encoding=encoding)
    with AtomicTableWriter(target) as sink:
        for frame in frames:
            sink.write(task(frame))
    return sink.rows


def predict_dask(
    model,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    scheduler: str | None = None,
    client=None,
    top_k: int = 3,
    text_column: str = "text",
    documents: bool = False,
    doc_column: str | None = None,
    chunksize: int = 20_000,
    encoding: str | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> DaskPredictRun:
    """Predict themes for many files on a Dask cluster into a folder of Parquet parts.

    Parameters
    ----------
    model : ThemeModel
        The model; it is sent to every worker once (``client.scatter(..., broadcast=True)``).
    inputs : sequence of str or Path
        Files or glob patterns (CSV, TSV, JSONL, Parquet, ``.txt``; ``.gz`` allowed). Each file
        is one task, read in chunks on its worker: split big inputs into several files.
    out : str or Path
        Output folder; it gets ``part-00000.parquet``, ... one per input file in input order,
        each with the rows :func:`~predict_files` would write. The
        folder is written beside its target and renamed into place when complete.
    scheduler : str, default=None
        Scheduler address; None starts a local cluster of two workers (see
        :func:`dask_client`). Ignored when ``client`` is given.
    client : distributed.Client, default=None
        A client to use instead of connecting.
    top_k, text_column, documents, doc_column, chunksize, encoding
        As for :func:`~policy_themes.workflows.prediction.predict_files`.
    progress : callable, default=None
        Called as each file completes with (sentences so far, fraction of files done).

    Returns
    -------
    DaskPredictRun

    Raises
    ------
    ConfigError
        If Dask is missing or the scheduler cannot be reached.
    DataError
        If an input is missing or malformed, or ``out`` is a file or a folder of other things.
    """
    require_dask()
    paths = expand_globs(inputs)
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
    out = Path(out)
    _check_out_folder(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(dask_client(scheduler))
            total = _run_parts(client, model, paths, tmp, top_k=top_k, text_column=text_column,
                               documents=documents, doc_column=doc_column, chunksize=chunksize,
                               encoding=encoding, progress=progress)
        if not total:
            raise DataError(f"{', '.join(map(str, paths[:3]))}: no text to predict")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    parts = [out / _part_name(i) for i in range(len(paths))]
    return DaskPredictRun(total, out, parts)


def _run_parts(client, model, paths, folder: Path, *, progress, **options) -> int:
    from distributed import as_completed

    # the workers may be other machines: send the model's arrays, not the path to them
    shared = client.scatter(model.portable(), broadcast=True)
    futures = [client.submit(_predict_part, str(path.resolve()), str(folder / _part_name(i)),
                             shared, pure=False, **options)
               for i, path in enumerate(paths)]
    done = total = 0
    try:
        for future in as_completed(futures):
            total += future.result()
            done += 1
            if progress is not None:
                progress(total, done / len(futures))
    finally:
        client.cancel(futures)
    return total


def _part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _check_out_folder(out: Path) -> None:
    if out.suffix.lower() in (".csv", ".tsv", ".jsonl", ".gz") or out.is_file():
        raise DataError(f"{out}: --engine dask writes a folder of Parquet parts; give a folder "
                        "name for --out, e.g. predictions/")
    if not out.parent.is_dir():
        raise DataError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir() and any(not p.name.startswith("part-") for p in out.iterdir()):
        raise DataError(f"{out}: exists and holds files other than part-*.parquet; choose "
                        "another --out")
