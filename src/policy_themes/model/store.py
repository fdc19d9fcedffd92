"""Save and load model directories: ``model.joblib``, ``model.json`` and the training report.

A model directory is written completely into a temporary folder beside its target and then
swapped in, under a lock, so a reader never sees a mix of two runs and an interrupted run leaves
the previous model in place. Loading checks the SHA-256 recorded in ``model.json`` **before**
unpickling: a joblib file is a pickle, and a pickle can run code, so only load models you trust.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import platform
import re
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from policy_themes.errors import ModelError
from policy_themes.io.checksums import file_sha256
from policy_themes.jsondata import dumps

__all__ = ["MODEL_FILE", "META_FILE", "FORMAT_VERSION", "ModelVersionWarning", "save_model",
           "load_pipeline", "load_array_model", "verify_model_file", "read_meta", "file_sha256",
           "model_lock", "check_model_dir", "warn_versions", "no_arrays_error"]

MODEL_FILE = "model.joblib"
ARRAYS_FILE = "model.npz"
META_FILE = "model.json"
FORMAT_VERSION = 1
_HELD_LOCKS: set[Path] = set()  # locks this process holds (train holds one while it saves)


class ModelVersionWarning(UserWarning):
    """The model was saved by another scikit-learn or package version."""


@contextlib.contextmanager
def model_lock(model_dir: Path):
    """Hold an exclusive lock on a model directory while it is replaced.

    The lock is the operating system's (``filelock``), so the lock of a process that died,
    even by SIGKILL, is free again. It is re-entrant within a process:
    :func:`~policy_themes.workflows.training.train` holds it for the whole run and
    :func:`save_model` takes it again.

    Raises
    ------
    ModelError
        If another process holds the lock.
    """
    from filelock import FileLock, Timeout

    parent = model_dir.parent
    if not parent.is_dir():
        raise ModelError(f"{model_dir}: folder {parent} does not exist")
    path = parent / f".{model_dir.name}.lock"
    key = path.resolve()
    if key in _HELD_LOCKS:
        yield
        return
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ModelError(f"{model_dir}: another run is writing this model directory "
                         f"(lock {path}); wait for it to finish") from None
    except OSError as exc:
        raise ModelError(f"{model_dir}: cannot write there ({exc.strerror or exc})") from None
    _HELD_LOCKS.add(key)
    try:
        yield
    finally:
        _HELD_LOCKS.discard(key)
        with contextlib.suppress(OSError):
            path.unlink()
        lock.release()


def save_model(model_dir: str | Path, pipeline, meta: dict, *, write_extra=None) -> Path:
    """Write a model directory atomically.

    Parameters
    ----------
    model_dir : str or Path
        Target directory; an existing one is replaced only once the new one is complete.
    pipeline : Pipeline
        The fitted pipeline, saved as ``model.joblib``.
    meta : dict
        Metadata for ``model.json``; the SHA-256 of ``model.joblib`` and versions are added.
    write_extra : callable, default=None
        Called with the temporary directory to add files (the training report).

    Returns
    -------
    Path
        The model directory.

    Raises
    ------
    ModelError
        If the folder cannot be written or another run holds the lock.
    """
    import joblib

    model_dir = Path(model_dir)
    with model_lock(model_dir):
        _clean_leftovers(model_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.{os.getpid()}.", suffix=".tmp",
                                    dir=model_dir.parent))
        try:
            joblib.dump(pipeline, tmp / MODEL_FILE)  # uncompressed: much faster to write and read
            hashes = {MODEL_FILE: file_sha256(tmp / MODEL_FILE)}
            if _write_arrays(pipeline, tmp):
                hashes[ARRAYS_FILE] = file_sha256(tmp / ARRAYS_FILE)
            full_meta = {**_provenance(), **meta, "sha256": hashes}
            (tmp / META_FILE).write_text(dumps(full_meta),
                                         encoding="utf-8")
            if write_extra is not None:
                write_extra(tmp)
            os.chmod(tmp, 0o755)
            _swap_in(tmp, model_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return model_dir


def _clean_leftovers(model_dir: Path) -> None:
    """Under the lock: put back a model directory whose swap was cut short (the process killed
    between the two renames) and remove folders that runs killed outright left behind."""
    from policy_themes.io.writers import process_alive

    name = re.escape(model_dir.name)
    pattern = re.compile(rf"\.{name}\.(?:old-(\d+)|(\d+)\.[a-z0-9_]+\.tmp)")
    leftovers = []
    for candidate in model_dir.parent.glob(f".{glob.escape(model_dir.name)}.*"):
        match = pattern.fullmatch(candidate.name)
        if match and candidate.is_dir() and not process_alive(int(match.group(1) or
                                                                  match.group(2))):
            leftovers.append(candidate)
    old = [c for c in leftovers if ".old-" in c.name and (c / META_FILE).is_file()]
    if old and not model_dir.exists():
        os.replace(old[0], model_dir)
        leftovers.remove(old[0])
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)


def _swap_in(tmp: Path, model_dir: Path) -> None:
    """Replace ``model_dir`` by ``tmp`` with two renames; the old one is deleted afterwards."""
    old = None
    if model_dir.exists():
        if not (model_dir / META_FILE).exists() and any(model_dir.iterdir()):
            raise ModelError(f"{model_dir}: exists and is not a model directory; choose another "
                             "--model-dir")
        old = model_dir.parent / f".{model_dir.name}.old-{os.getpid()}"
        os.replace(model_dir, old)
    os.replace(tmp, model_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _provenance() -> dict:
    import sklearn

    from policy_themes import __version__

    return {
        "format": FORMAT_VERSION,
        "package_version": __version__,
        "sklearn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def read_meta(model_dir: str | Path) -> dict:
    """Read and check ``model.json`` of a model directory.

    Raises
    ------
    ModelError
        If the directory or its metadata is missing, unreadable or of an unknown format.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"no model at {model_dir}; point --model-dir (or POLICY_THEMES_MODEL) "
                         "at a trained model, or run `policy-themes train`")
    meta_path = model_dir / META_FILE
    if meta_path.exists() and not meta_path.is_file():  # a pipe or a device would never end
        raise ModelError(f"{meta_path}: not a regular file; the model directory is damaged")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{model_dir}: no {META_FILE}; not a model directory") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: JSON, UTF-8, digits
        raise ModelError(f"{meta_path}: unreadable or damaged ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelError(f"{meta_path}: model format {found!r} is not {FORMAT_VERSION}; retrain "
                         "it with this version of policy-themes")
    from policy_themes.model.checks import check_meta

    return check_meta(meta, meta_path)


def _write_arrays(pipeline, folder: Path) -> bool:
    """Write ``model.npz`` (the pipeline as arrays) when the pipeline has an array form."""
    from policy_themes.model.conversion import pipeline_arrays

    arrays = pipeline_arrays(pipeline)
    if arrays is None:
        return False
    with open(folder / ARRAYS_FILE, "wb") as handle:
        np.savez(handle, **arrays)
    return True


def load_array_model(model_dir: str | Path, meta: dict):
    """The :class:`~policy_themes.model.arrays.ArrayModel` of a model directory, or None when it
    has no ``model.npz`` listed in ``model.json``.

    Raises
    ------
    ModelError
        If ``model.npz`` does not match its SHA-256 in ``model.json`` or cannot be read.
    """
    from policy_themes.model.arrays import ArrayModel

    expected = (meta.get("sha256") or {}).get(ARRAYS_FILE)
    path = Path(model_dir) / ARRAYS_FILE
    if expected is None:
        return None
    if not path.is_file() or file_sha256(path) != expected:
        raise ModelError(f"{path}: missing, or its SHA-256 does not match {META_FILE}; the model "
                         "directory is damaged: retrain it")
    try:
        return ArrayModel.load(path, sha256=expected, checked=True)
    except ModelError:  # refused by its checks (model.checks), with the array named
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read means a damaged file
        raise ModelError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); retrain "
                         "it") from None


def no_arrays_error(model_dir: str | Path) -> ModelError:
    """The error for a model directory without ``model.npz``: it could only predict by
    unpickling ``model.joblib``, which predict, evaluate and info never do."""
    return ModelError(f"{model_dir}: no {ARRAYS_FILE}, the model's arrays (predict, evaluate "
                      f"and info never unpickle its {MODEL_FILE}); retrain it with "
                      "`policy-themes train`")


def verify_model_file(model_dir: Path, meta: dict) -> Path:
    """Check that ``model.joblib`` exists and matches its SHA-256 in ``model.json`` (without
    unpickling it); return its path.

    Raises
    ------
    ModelError
        If it is missing or does not match.
    """
    model_path = Path(model_dir) / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"{model_dir}: no {MODEL_FILE}; retrain with `policy-themes train`")
    expected = (meta.get("sha256") or {}).get(MODEL_FILE)
    if expected != file_sha256(model_path):
        raise ModelError(f"{model_path}: SHA-256 does not match {META_FILE}; the file is damaged "
                         "or was replaced, and is not loaded (a joblib file can run code: load "
                         "only models from trusted sources)")
    return model_path


def load_pipeline(model_dir: str | Path) -> tuple[object, dict]:
    """Verify and load the pipeline of a model directory.

    The SHA-256 of ``model.joblib`` must match ``model.json`` before anything is unpickled.

    Returns
    -------
    pipeline : Pipeline
    meta : dict

    Raises
    ------
    ModelError
        If the directory is missing, the hash does not match, or the file is damaged.

    Warns
    -----
    ModelVersionWarning
        If the model was saved with another scikit-learn or package version.
    """
    import joblib

    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    model_path = verify_model_file(model_dir, meta)
    warn_versions(meta, model_dir)
    try:
        pipeline = joblib.load(model_path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise ModelError(f"{model_path}: cannot be loaded ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); retrain it") from None
    return pipeline, meta


def warn_versions(meta: dict, model_dir: Path) -> None:
    """Warn (``ModelVersionWarning``) when ``meta`` was saved by another scikit-learn or
    policy-themes version; used for joblib and skops models alike."""
    from importlib.metadata import PackageNotFoundError, version

    from policy_themes import __version__

    try:
        sklearn_version = version("scikit-learn")
    except PackageNotFoundError:
        sklearn_version = None
    for name, saved, running in (("scikit-learn", meta.get("sklearn_version"), sklearn_version),
                                 ("policy-themes", meta.get("package_version"), __version__)):
        if saved and running and saved != running:
            warnings.warn(f"{model_dir} was trained with {name} {saved}, this is {running}: "
                          "predictions may differ; retrain with `policy-themes train` to be sure",
                          ModelVersionWarning, stacklevel=3)


def check_model_dir(model_dir: str | Path) -> Path:
    """Check, before any work, that a model directory can be written there.

    Raises
    ------
    ModelError
        If the parent folder is missing, or the path is a file or a non-empty folder that is not
        a model directory.
    """
    model_dir = Path(model_dir)
    if not model_dir.parent.is_dir():
        raise ModelError(f"{model_dir}: folder {model_dir.parent} does not exist")
    if model_dir.exists():
        if not model_dir.is_dir():
            raise ModelError(f"{model_dir}: exists and is not a folder; choose another --model-dir")
        if not (model_dir / META_FILE).exists() and any(model_dir.iterdir()):
            raise ModelError(f"{model_dir}: exists and is not a model directory; choose another "
                             "--model-dir")
    return model_dir


def preload_model_dir(model_dir: str) -> None:
    """:func:`preload_model` for the array model of a model directory, read as
    :func:`~policy_themes.model.theme_model.load_model` reads it (nothing for a directory without
    one)."""
    from policy_themes.model.arrays import preload

    model = load_array_model(model_dir, read_meta(model_dir))
    if model is not None:
        preload(model)
