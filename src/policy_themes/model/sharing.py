"""Share a model without pickle: export it to skops' format and load it against an allow-list.

A ``model.joblib`` is a pickle, and loading a pickle can run any code its author put in it. A
``.skops`` file (`skops.io <https://skops.readthedocs.io>`_) instead describes the fitted pipeline
as JSON plus numpy arrays; loading it rebuilds the objects from that description and never
unpickles. It can still name any importable type, and skops trusts many by default (builtins,
NumPy functions, every scikit-learn estimator), so before anything is built every type the file
names, trusted by skops or not, must be on :data:`ALLOWED_TYPES` for the skops loader that builds
it (:data:`LOADER_TYPES`), matched by its exact name; a file naming any other type or loader is
refused with the names of the offending types. An archive that would expand to much more than its
size (:data:`MAX_EXPANSION`) is refused before anything is read.

Once built, the pipeline is turned into the arrays of ``model.npz``
(:func:`~policy_themes.model.conversion.pipeline_arrays`) and checked as ``model.npz`` is
(:mod:`.checks`): a shared model predicts with the same code as a model directory, and a
pipeline that does not compile (built by an earlier release) is refused.

One ``.skops`` file carries everything: it holds a dict with the pipeline and the model's
``model.json`` metadata (as JSON text), so the model and its metadata cannot be separated.

Which file a ``--model-dir`` means:

- a path ending in ``.skops`` is a shared model file;
- a directory holding ``model.joblib`` is a model directory (``model.joblib`` wins, even when
  ``model.skops`` is beside it);
- a directory holding ``model.skops`` but no ``model.joblib`` loads its ``model.skops``.

skops is an optional dependency: ``pip install "policy-themes[share]"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from policy_themes.errors import ConfigError, ModelError
from policy_themes.io.checksums import file_sha256
from policy_themes.limits import (
    MAX_UNZIPPED_ENV,
    UNZIPPED_ALLOWANCE,
    UNZIPPED_RATIO,
    max_unzipped_bytes,
)
from policy_themes.model.store import (
    FORMAT_VERSION,
    META_FILE,
    MODEL_FILE,
    warn_versions,
)

__all__ = ["SKOPS_FILE", "SHARE_FORMATS", "ALLOWED_TYPES", "LOADER_TYPES", "export_model",
           "load_skops", "skops_array_model", "refused_types",
           "read_model_meta", "skops_model_file", "untrusted_types"]

SKOPS_FILE = "model.skops"
SHARE_FORMATS = ("skops",)
SHARED_FORMAT = 1
INSTALL_HINT = 'pip install "policy-themes[share]"'

#: The objects a ``.skops`` model may build with skops' ``ObjectNode`` (its attributes set, no
#: constructor called): exact ``module.Name`` strings compared for equality, no prefixes, no
#: wildcards. Every type a fitted policy-themes pipeline holds (found by exporting trained
#: models), so accepting a model does not depend on what a given skops version trusts by default.
_OBJECT_TYPES = frozenset({
    # the package's own classes
    "policy_themes.features.blocks.HashedNgrams",
    "policy_themes.features.blocks.HashedTfidf",
    "policy_themes.model.classifier.InputFrame",
    "policy_themes.model.classifier.RuleVotes",
    "policy_themes.model.classifier.ThemeClassifier",
    "policy_themes.model.one_vs_rest.OneVsRestLogistic",
    "policy_themes.model.streaming.StreamingThemeClassifier",
    "policy_themes.rules.taxonomy.Rule",
    "policy_themes.rules.taxonomy.Taxonomy",
    "policy_themes.rules.taxonomy.Theme",
    # scikit-learn: the pipeline's steps and what they hold
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    # a fitted ColumnTransformer's dropped remainder columns (scikit-learn 1.5-1.6; not seen with
    # the 1.9 this list was made with)
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.linear_model._logistic.LogisticRegression",
    # streaming models of earlier builds: SGD heads
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
})

#: What each skops loader may build: the whole allow-list, builtins and NumPy included. A loader
#: not listed (functions, methods, ``functools.partial``, objects built by calling their class)
#: is refused with the types it names.
LOADER_TYPES: dict[str, frozenset[str]] = {
    "ObjectNode": _OBJECT_TYPES,
    # the log loss object an SGD head keeps
    "LossNode": frozenset({"sklearn._loss._loss.CyHalfBinomialLoss"}),
    # arrays (never of Python objects: loaded with allow_pickle=False) and NumPy scalars
    "NdArrayNode": frozenset({"numpy.ndarray", "numpy.float32", "numpy.float64",
                              "numpy.int32", "numpy.int64"}),
    # types as values: dict key types, the vectorizers' dtype parameter
    "TypeNode": frozenset({"builtins.str", "builtins.int", "builtins.float", "numpy.float32",
                           "numpy.float64"}),
    "DictNode": frozenset({"builtins.dict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    "SliceNode": frozenset({"builtins.slice"}),
    # plain JSON values (the type is only a label: the value is json.loads of the text)
    "JsonNode": frozenset({"builtins.str", "builtins.int", "builtins.float", "builtins.bool",
                           "builtins.NoneType"}),
}

#: Every type a ``.skops`` model may name, whoever trusts it by default.
ALLOWED_TYPES = frozenset().union(*LOADER_TYPES.values())

#: A ``.skops`` file (a zip archive) may expand to at most this many times its size, plus
#: :data:`EXPANSION_ALLOWANCE` bytes: the models ``export`` writes expand 1 to 25 times (the
#: rules' text compresses well); a compression bomb expands a thousand times.
#: ``POLICY_THEMES_MAX_UNZIPPED`` sets another limit
#: (:func:`~policy_themes.limits.max_unzipped_bytes`).
MAX_EXPANSION = UNZIPPED_RATIO
EXPANSION_ALLOWANCE = UNZIPPED_ALLOWANCE

_PIPELINE_KEY = "pipeline"
_META_KEY = "model_json"
_FORMAT_KEY = "policy_themes_shared_format"


def _skops_io():
    """Import ``skops.io`` lazily (it is slow to import), or say how to install it."""
    try:
        import skops.io as sio
    except ImportError:
        raise ModelError(f"sharing models needs skops: {INSTALL_HINT}") from None
    return sio


def skops_model_file(model_dir: str | Path) -> Path | None:
    """The ``.skops`` file a ``--model-dir`` means, or None for a joblib model directory.

    Parameters
    ----------
    model_dir : str or Path
        A path ending in ``.skops`` (a shared model file), or a directory.

    Returns
    -------
    Path or None
        ``model_dir`` itself when it ends in ``.skops``; ``model_dir/model.skops`` when the
        directory holds that file but no ``model.joblib``; otherwise None.
    """
    path = Path(model_dir)
    if path.suffix.lower() == ".skops":
        return path
    if path.is_dir() and not (path / MODEL_FILE).exists() and (path / SKOPS_FILE).is_file():
        return path / SKOPS_FILE
    return None


def untrusted_types(path: str | Path) -> list[str]:
    """The types a ``.skops`` file names that skops does not trust by default.

    Nothing is built or imported: the file's schema is only read.

    Raises
    ------
    ModelError
        If skops is not installed, or the file is missing or not a skops file.
    """
    return _audit(path)[1]


def refused_types(path: str | Path) -> list[str]:
    """The types a ``.skops`` file names that are not on :data:`ALLOWED_TYPES` for the skops
    loader that builds them, whether skops trusts them by default or not.

    Nothing is built or imported: the archive's sizes and its schema are only read.

    Raises
    ------
    ModelError
        If skops is not installed, the file is missing or not a skops file, would expand to
        more than :data:`MAX_EXPANSION` times its size, or reads one array twice.
    """
    return _audit(path)[0]


def _audit(path: str | Path) -> tuple[list[str], list[str]]:
    """:func:`refused_types` and :func:`untrusted_types` of a file, read once each."""
    sio = _skops_io()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no shared model at {path}: the .skops file does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_expansion(archive, path)
            refused = _schema_refusals(archive, path)
        untrusted = list(sio.get_untrusted_types(file=path))
    except (ModelError, ConfigError):
        raise
    except Exception as exc:  # noqa: BLE001 - a foreign file can fail in any way while parsed
        raise ModelError(f"{path}: not a readable .skops model ({_describe(exc)})") from None
    refused |= {t for t in untrusted if t not in ALLOWED_TYPES}
    return sorted(refused), untrusted


def _check_expansion(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse an archive whose members add up to much more than the file (a zip bomb): skops
    reads every array into memory before it checks a type."""
    size = path.stat().st_size
    total = sum(info.file_size for info in archive.infolist())
    limit = max_unzipped_bytes(size)
    if total > limit:
        how = (f"{MAX_UNZIPPED_ENV} is {os.environ[MAX_UNZIPPED_ENV]}"
               if os.environ.get(MAX_UNZIPPED_ENV) else
               f"more than 64 MB plus {MAX_EXPANSION} times its size")
        raise ModelError(f"{path}: refused, its {size:,} bytes would expand to {total:,} "
                         f"({how}); nothing was loaded; if the file is genuine, raise the "
                         f"limit, e.g. {MAX_UNZIPPED_ENV}=4G")


def _schema_refusals(archive: zipfile.ZipFile, path: Path) -> set[str]:
    """The ``module.Name`` of every node of the schema whose skops loader may not build it
    (:data:`LOADER_TYPES`); walked without recursion, so no depth can exhaust the stack."""
    refused, files = set(), set()
    stack = [json.loads(archive.read("schema.json"))]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if not {"__loader__", "__module__", "__class__"} & node.keys():
            continue
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        loader = node.get("__loader__")
        allowed = ALLOWED_TYPES if loader == "CachedNode" else LOADER_TYPES.get(loader, ())
        if name not in allowed:
            refused.add(name)
        if loader == "NdArrayNode" and "file" in node:
            if node["file"] in files:  # each array would be read into memory once more
                raise ModelError(f"{path}: refused, it reads the array {node['file']} twice; "
                                 "nothing was loaded")
            files.add(node["file"])
    return refused


def _refused(types: list[str]) -> list[str]:
    return sorted(t for t in types if t not in ALLOWED_TYPES)


def load_skops(path: str | Path) -> tuple[object, dict]:
    """Check every type a ``.skops`` model names against :data:`ALLOWED_TYPES`, then load it.

    Parameters
    ----------
    path : str or Path
        The ``.skops`` file written by :func:`export_model`.

    Returns
    -------
    pipeline : Pipeline
    meta : dict
        The ``model.json`` metadata embedded in the file, with a ``shared`` section.

    Raises
    ------
    ModelError
        If skops is not installed, the file is missing or damaged, names a type that is not on
        the allow-list (the message lists them; nothing is built), or does not hold a
        policy-themes model.

    Warns
    -----
    ModelVersionWarning
        If the model was saved with another scikit-learn or package version.
    """
    sio = _skops_io()
    path = Path(path)
    refused, types = _audit(path)
    if refused:
        raise ModelError(f"{path}: refused, it names types that are not on policy-themes' "
                         f"allow-list: {', '.join(refused)}; nothing was loaded (load only "
                         "models exported by `policy-themes export`)")
    try:
        content = sio.load(path, trusted=types)
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild means a damaged file
        raise ModelError(f"{path}: cannot be loaded ({_describe(exc)})") from None
    pipeline, meta = _unpack(content, path)
    warn_versions(meta, path)
    return pipeline, meta


def skops_array_model(pipeline, path: str | Path):
    """The :class:`~policy_themes.model.arrays.ArrayModel` of a shared model's pipeline: its
    arrays, checked as those of ``model.npz`` are, so that it predicts with the same code.

    Raises
    ------
    ModelError
        If the pipeline does not compile (one of an earlier release, or altered) or its arrays
        fail their checks (the message names the array).
    """
    from policy_themes.model.arrays import ArrayModel
    from policy_themes.model.conversion import pipeline_arrays

    try:
        arrays = pipeline_arrays(pipeline)
    except Exception as exc:  # noqa: BLE001 - a foreign file's attributes can be anything
        raise ModelError(f"{path}: its pipeline cannot be read as arrays ({_describe(exc)}); "
                         "the model is damaged or was altered: export it again") from None
    if arrays is None:
        raise ModelError(f"{path}: holds a pipeline of an earlier release of policy-themes, "
                         "which this one does not predict with; retrain the model and export "
                         "it again")
    return ArrayModel(arrays, source=path)


def _unpack(content, path: Path) -> tuple[object, dict]:
    """The pipeline and metadata of a loaded ``.skops`` model, checked."""
    from sklearn.pipeline import Pipeline

    from policy_themes.model.checks import check_meta

    if not isinstance(content, dict) or content.get(_FORMAT_KEY) != SHARED_FORMAT:
        found = content.get(_FORMAT_KEY) if isinstance(content, dict) else None
        raise ModelError(f"{path}: not a policy-themes model (shared format {found!r}, expected "
                         f"{SHARED_FORMAT}); export it with `policy-themes export`")
    try:
        meta = json.loads(content.get(_META_KEY))
    except (TypeError, ValueError, RecursionError):
        raise ModelError(f"{path}: its {META_FILE} metadata is missing or damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelError(f"{path}: model format {found!r} is not {FORMAT_VERSION}; export it "
                         "again with this version of policy-themes")
    check_meta(meta, path)
    pipeline = content.get(_PIPELINE_KEY)
    steps = pipeline.named_steps if isinstance(pipeline, Pipeline) else {}
    if not isinstance(steps, dict) or "features" not in steps or "clf" not in steps:
        raise ModelError(f"{path}: does not hold a policy-themes pipeline")
    return pipeline, meta


def read_model_meta(model_dir: str | Path) -> dict:
    """The metadata of a model directory or a shared ``.skops`` model, once the model is checked
    as it is before predicting (nothing is unpickled).

    A model directory needs its ``model.npz``, whose spec, layout and values are checked; a
    ``.skops`` model is checked and loaded in full (its metadata is inside it) and its arrays
    are checked.

    Raises
    ------
    ModelError
        As :func:`~policy_themes.model.store.read_meta`, :func:`load_skops` or the checks of
        :mod:`.checks`; for a model directory without ``model.npz``.
    """
    from policy_themes.model.store import load_array_model, no_arrays_error, read_meta

    shared = skops_model_file(model_dir)
    if shared is not None:
        pipeline, meta = load_skops(shared)
        skops_array_model(pipeline, shared)
        return meta
    meta = read_meta(model_dir)
    array_model = load_array_model(model_dir, meta)
    if array_model is None:
        raise no_arrays_error(model_dir)
    array_model.arrays  # noqa: B018 - read, and so checked: values too
    return meta


def export_model(model_dir: str | Path, out: str | Path | None = None, *,
                 format: str = "skops") -> Path:
    """Write a model directory's pipeline and metadata to one ``.skops`` file for sharing.

    The file is written to a temporary file beside ``out`` and renamed into place, and is checked
    to load under :data:`ALLOWED_TYPES` before it replaces anything.

    Parameters
    ----------
    model_dir : str or Path
        A model directory written by ``policy-themes train`` (its ``model.joblib`` is
        verified against ``model.json`` before it is read).
    out : str or Path, default=None
        The file to write, ending in ``.skops``; None writes ``model_dir/model.skops``.
    format : {"skops"}, default="skops"
        The sharing format.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ModelError
        If the format is unknown, skops is not installed, the model directory is missing or
        damaged, ``out`` is not a writable ``.skops`` path, or the pipeline holds a type that is
        not on the allow-list.

    Examples
    --------
    >>> export_model("models/default")              # doctest: +SKIP
    PosixPath('models/default/model.skops')
    """
    from policy_themes.model.store import load_pipeline, model_lock, read_meta

    if format not in SHARE_FORMATS:
        raise ModelError(f"--format must be one of {', '.join(SHARE_FORMATS)}, got {format!r}")
    sio = _skops_io()
    model_dir = Path(model_dir)
    if skops_model_file(model_dir) is not None:
        raise ModelError(f"{model_dir}: already a shared model; export a model directory "
                         f"(one with {MODEL_FILE})")
    read_meta(model_dir)  # a missing model directory is the first thing to report
    out = Path(out) if out is not None else model_dir / SKOPS_FILE
    _check_out(out)
    inside = out.parent.resolve() == model_dir.resolve()
    # writing into the model directory: keep `train` from swapping it away meanwhile
    with model_lock(model_dir) if inside else contextlib.nullcontext():
        pipeline, meta = load_pipeline(model_dir)
        meta = _shared_meta(meta, model_dir)
        content = {_FORMAT_KEY: SHARED_FORMAT, _META_KEY: json.dumps(meta, indent=2),
                   _PIPELINE_KEY: pipeline}
        _write_skops(sio, content, out)
    return out


def _check_out(out: Path) -> None:
    if out.suffix.lower() != ".skops":
        raise ModelError(f"{out}: a shared model file must end in .skops")
    if not out.parent.is_dir():
        raise ModelError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise ModelError(f"{out}: is a folder; give a file name ending in .skops")


def _shared_meta(meta: dict, model_dir: Path) -> dict:
    """``model.json`` plus where and when the shared file was made."""
    import skops

    meta = dict(meta)
    source_sha = (meta.pop("sha256", None) or {}).get(MODEL_FILE) or \
        file_sha256(model_dir / MODEL_FILE)
    meta["shared"] = {
        "format": "skops",
        "skops_version": skops.__version__,
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_sha256": source_sha,
    }
    return meta


def _write_skops(sio, content: dict, out: Path) -> None:
    """Dump to a temporary file beside ``out``, check it loads under the allow-list, rename."""
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            sio.dump(content, tmp, compression=zipfile.ZIP_DEFLATED)
        except OSError as exc:
            raise ModelError(f"{out}: cannot write it ({exc.strerror or exc})") from None
        except Exception as exc:  # noqa: BLE001 - skops refuses objects it cannot describe
            raise ModelError(f"the model cannot be saved as .skops ({_describe(exc)})") from None
        refused = refused_types(tmp)
        if refused:
            raise ModelError(f"the model holds types that are not on policy-themes' allow-list "
                             f"({', '.join(refused)}), so the .skops file could not be loaded; "
                             "nothing was written")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
