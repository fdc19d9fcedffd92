"""Check a model before it is used: the arrays of ``model.npz`` (or of a ``.skops`` pipeline),
the spec that describes them, and ``model.json``.

The compiled loops of :mod:`policy_themes.kernels` index the model's arrays without bounds
checks (Numba checks none), so a model is refused unless every index they take from it is
inside its array, and every number it predicts with is finite. What the loops take from a model:

- a word or character block's column (``_column``): the rank of a bucket among the block's
  ``buckets``, read from a table built from those buckets; the table has ``2**n_bits / 64``
  rows and a bucket is ``n_bits`` bits, so the buckets must be sorted, distinct and below
  ``2**n_bits``;
- ``counts[column]`` and ``idf[column]`` (``_count_line``, ``_weigh_line``): the idf holds one
  value per bucket;
- ``weights[first_row + column]`` (``_add_line_products``, ``add_products``): the weights'
  rows are the blocks' columns one after the other, so the coefficients have as many rows
  (features) as the blocks have columns together: ``len(buckets)`` for a TF-IDF block,
  ``2**n_bits`` for a hashed one, ``n_themes`` for a rule block (the columns of the rules'
  scores), ``width`` for an embeddings block (checked again against what the encoder gives,
  when it gives it);
- the outputs: ``primary.coef`` (outputs × features) beside ``membership.coef`` (features ×
  themes), with one intercept per output; the spec's column lists say where each output's
  probability goes, and must cover every theme once (a theme left out would be read from
  uninitialised memory).

Everything else the loops index (the normalised text, the n-grams found, the rules' automaton)
is made by the package from the input and the taxonomy's strings, not read from the model.

Checks come in three steps, each cheap: :func:`check_spec` (the JSON description),
:func:`check_layout` (each array's dtype and shape, against the spec and each other, which
:func:`npz_layout` reads from the file's headers without reading the arrays) and
:func:`check_values` (value ranges: finite numbers, buckets in range). A model that fails any is
refused with a :class:`~policy_themes.errors.ModelError` naming the array or field.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from policy_themes.errors import ModelError

__all__ = ["check_spec", "check_layout", "check_values", "layout_of", "npz_layout",
           "parse_spec", "check_meta", "expected_arrays", "block_width"]

_ANALYZERS = ("word", "char_wb")  # features.ngrams.ANALYZERS, the kernels' two loops
_MAX_N = 16  # features.ngrams.MAX_N: the kernels keep the last 16 words of a line
_MAX_BITS = 30  # features.blocks' bound on n_bits (the kernels' columns are int32)
_KINDS = ("tfidf", "hashed", "rules", "embeddings")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_HINT = "the model is damaged or was altered: retrain it"


class _Refused(ValueError):
    """A check failed: the message names the field or array."""


def _refuse(where, message: str) -> ModelError:
    return ModelError(f"{where}: {message}; {_HINT}")


def _kind(value) -> str:
    return type(value).__name__


def _need(value, types, name: str):
    """``value`` if it is of ``types`` (bool is not an int here), else :class:`_Refused`."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise _Refused(f"{name} must be {_names(types)}, got bool")
    if not isinstance(value, types):
        raise _Refused(f"{name} must be {_names(types)}, got {_kind(value)}")
    return value


def _names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    if set(types) >= {int, float}:  # an integer is a number
        types = tuple(t for t in types if t is not int)
    words = {int: "an integer", float: "a number", str: "text", bool: "true or false",
             list: "a list", dict: "an object", type(None): "null"}
    return " or ".join(words.get(t, t.__name__) for t in types)


def _int_in(value, low: int, high: int, name: str) -> int:
    _need(value, int, name)
    if not low <= value <= high:
        raise _Refused(f"{name} must be from {low} to {high}, got {_shown(value)}")
    return value


def _number(value, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    _need(value, (int, float), name)
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not (math.isfinite(number) and low <= number <= high):
        raise _Refused(f"{name} must be a finite number from {low} to {high}, got "
                       f"{_shown(value)}")
    return number


def _shown(value) -> str:
    """``repr(value)``, cut short: a message quotes what a file holds, not all of it."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _strings(value, name: str, *, distinct: bool = False) -> list[str]:
    _need(value, list, name)
    for i, item in enumerate(value):
        _need(item, str, f"{name}[{i}]")
    if distinct and len(set(value)) != len(value):
        raise _Refused(f"{name} holds the same name twice")
    return value


def _column(value, size: int, name: str) -> int:
    """An integer from 0 to ``size - 1``: a column of ``size`` columns."""
    _need(value, int, name)
    if not 0 <= value < size:
        raise _Refused(f"{name} must be a column from 0 to {size - 1}, got {_shown(value)}")
    return value


def _indices(value, size: int, name: str) -> list[int]:
    """Distinct columns of ``size`` columns."""
    _need(value, list, name)
    for i, item in enumerate(value):
        _column(item, size, f"{name}[{i}]")
    if len(set(value)) != len(value):
        raise _Refused(f"{name} holds the same column twice")
    return value


def parse_spec(raw, where) -> dict:
    """The spec of a ``model.npz`` (its ``spec`` array), read and checked.

    Raises
    ------
    ModelError
        If it is not one JSON object of the known format, or a field has the wrong type or
        value (the message names the field).
    """
    raw = np.asarray(raw)
    if raw.dtype.kind != "U" or raw.shape != ():
        raise _refuse(where, f"array 'spec' must be one text, got {raw.dtype} of shape "
                             f"{raw.shape}")
    try:
        spec = json.loads(str(raw))
    except (ValueError, RecursionError):
        raise _refuse(where, "array 'spec' is not valid JSON") from None
    return check_spec(spec, where)


def check_spec(spec, where) -> dict:
    """Check the fields of an array model's spec (types and ranges, and how they relate).

    Raises
    ------
    ModelError
        Naming the field that fails.
    """
    try:
        _check_spec(spec)
    except _Refused as exc:
        raise _refuse(where, f"spec: {exc}") from None
    return spec


def _check_spec(spec) -> None:
    _need(spec, dict, "the spec")
    if spec.get("format") != 1:
        raise _Refused(f"format {_shown(spec.get('format'))} is not 1 (this build reads 1)")
    classes = _strings(spec.get("classes"), "classes", distinct=True)
    themes = _strings(spec.get("themes"), "themes", distinct=True)
    if not classes:
        raise _Refused("classes is empty")
    _need(spec.get("primary_kind"), str, "primary_kind")
    if spec["primary_kind"] not in ("logistic", "ovr"):
        raise _Refused(f"primary_kind must be logistic or ovr, got {_shown(spec['primary_kind'])}")
    for name in ("primary_binary", "multilabel"):
        _need(spec.get(name), bool, name)
    thresholds = _need(spec.get("thresholds"), dict, "thresholds")
    for theme, value in thresholds.items():
        _number(value, f"thresholds[{_shown(theme)}]", 0.0, 1.0)
    columns = _indices(spec.get("primary_columns"), len(classes), "primary_columns")
    if not columns or (spec["primary_binary"] and len(columns) != 2):
        raise _Refused(f"primary_columns: {len(columns)} columns for "
                       f"{'a binary' if spec['primary_binary'] else 'the'} primary head")
    _check_membership_spec(spec, classes, themes)
    taxonomy = spec.get("taxonomy")
    if taxonomy is not None:
        _check_taxonomy_spec(taxonomy)
    _check_blocks_spec(spec.get("blocks"), taxonomy)


def _check_membership_spec(spec: dict, classes: list[str], themes: list[str]) -> None:
    """The membership outputs: with ``multilabel``, every theme is a head's column or a
    constant, once; without, every theme is a class (its probability is the class's)."""
    heads = _indices(spec.get("membership_columns"), len(themes), "membership_columns")
    constants = _need(spec.get("membership_constants"), list, "membership_constants")
    constant_columns = []
    for i, pair in enumerate(constants):
        name = f"membership_constants[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Refused(f"{name} must be a [column, probability] pair")
        constant_columns.append(_column(pair[0], len(themes), name))
        _number(pair[1], name, 0.0, 1.0)
    if not spec["multilabel"]:
        if heads or constants:
            raise _Refused("membership_columns and membership_constants must be empty "
                           "without multilabel")
        missing = [t for t in themes if t not in classes]
        if missing:
            raise _Refused(f"themes {', '.join(missing)} are not classes")
    elif sorted(heads + constant_columns) != list(range(len(themes))):
        raise _Refused("membership_columns and membership_constants must give every theme "
                       "exactly once")


def _check_taxonomy_spec(taxonomy) -> None:
    _need(taxonomy, dict, "taxonomy")
    _need(taxonomy.get("name"), str, "taxonomy.name")
    _need(taxonomy.get("source", ""), str, "taxonomy.source")
    themes = _need(taxonomy.get("themes"), list, "taxonomy.themes")
    for i, theme in enumerate(themes):
        where = f"taxonomy.themes[{i}]"
        _need(theme, dict, where)
        for key in ("id", "name", "description"):
            _need(theme.get(key), str, f"{where}.{key}")
        for j, rule in enumerate(_need(theme.get("rules"), list, f"{where}.rules")):
            here = f"{where}.rules[{j}]"
            _need(rule, dict, here)
            _need(rule.get("name"), str, f"{here}.name")
            _need(rule.get("theme"), str, f"{here}.theme")
            _strings(rule.get("patterns"), f"{here}.patterns")
            _strings(rule.get("exclude"), f"{here}.exclude")
            _number(rule.get("weight"), f"{here}.weight")
    ids = [t["id"] for t in themes]
    if len(set(ids)) != len(ids):
        raise _Refused("taxonomy.themes holds the same id twice")


def _check_blocks_spec(blocks, taxonomy) -> None:
    _need(blocks, list, "blocks")
    if not blocks:
        raise _Refused("blocks is empty")
    names = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        _need(block, dict, where)
        name = _need(block.get("name"), str, f"{where}.name")
        if name in names or not name:
            raise _Refused(f"{where}.name {_shown(name)} is empty or used twice")
        names.add(name)
        kind = _need(block.get("kind"), str, f"{where}.kind")
        if kind not in _KINDS:
            raise _Refused(f"{where}.kind must be one of {', '.join(_KINDS)}, got {_shown(kind)}")
        if block.get("column") not in ("text", "context"):
            raise _Refused(f"{where}.column must be text or context, got "
                           f"{_shown(block.get('column'))}")
        _check_block_fields(block, kind, where, taxonomy)


def _check_block_fields(block: dict, kind: str, where: str, taxonomy) -> None:
    if kind in ("tfidf", "hashed"):
        if block.get("analyzer") not in _ANALYZERS:
            raise _Refused(f"{where}.analyzer must be word or char_wb, got "
                           f"{_shown(block.get('analyzer'))}")
        ngrams = _need(block.get("ngram_range"), list, f"{where}.ngram_range")
        if len(ngrams) != 2:
            raise _Refused(f"{where}.ngram_range must be [low, high]")
        low = _int_in(ngrams[0], 1, _MAX_N, f"{where}.ngram_range[0]")
        _int_in(ngrams[1], low, _MAX_N, f"{where}.ngram_range[1]")
        # HashedTfidf's own bound; a TF-IDF block's bucket table takes 2**n_bits / 4 bytes
        _int_in(block.get("n_bits"), 1, _MAX_BITS, f"{where}.n_bits")
        _need(block.get("sublinear_tf"), bool, f"{where}.sublinear_tf")
        if block.get("norm") not in ("l2", None):
            raise _Refused(f"{where}.norm must be l2 or null, got {_shown(block.get('norm'))}")
    elif kind == "rules":
        _need(block.get("per_line"), bool, f"{where}.per_line")
        if taxonomy is None:
            raise _Refused(f"{where} is a rule block, and the spec has no taxonomy")
        n_themes = sum(t["id"] != "none" for t in taxonomy["themes"])
        if block.get("n_themes") != n_themes or isinstance(block.get("n_themes"), bool):
            raise _Refused(f"{where}.n_themes must be the taxonomy's {n_themes} themes, got "
                           f"{_shown(block.get('n_themes'))}")
    else:
        _need(block.get("model"), str, f"{where}.model")
        _number(block.get("scale"), f"{where}.scale")
        _int_in(block.get("width"), 1, 1 << 20, f"{where}.width")


def block_width(block: dict, layout: Mapping[str, tuple]) -> int:
    """The columns a block adds to the features (from a checked spec and layout)."""
    kind = block["kind"]
    if kind == "tfidf":
        return layout[f"{block['name']}.buckets"][1][0]
    if kind == "hashed":
        return 1 << block["n_bits"]
    return block["n_themes"] if kind == "rules" else block["width"]


def expected_arrays(spec: dict) -> list[str]:
    """The names of the arrays a model of this spec holds (``spec`` aside)."""
    names = [f"{b['name']}.{part}" for b in spec["blocks"] if b["kind"] == "tfidf"
             for part in ("buckets", "idf")]
    return [*names, "primary.coef", "primary.intercept", "membership.coef",
            "membership.intercept"]


def layout_of(arrays: Mapping[str, np.ndarray]) -> dict[str, tuple[np.dtype, tuple]]:
    """Each array's dtype and shape."""
    return {name: (np.asarray(a).dtype, np.asarray(a).shape) for name, a in arrays.items()
            if name != "spec"}


def check_layout(spec: dict, layout: Mapping[str, tuple], where) -> None:
    """Check that the arrays are the ones the spec names, each of the dtype and shape the spec
    and the other arrays give it.

    Raises
    ------
    ModelError
        Naming the first array that fails.
    """
    try:
        _check_layout(spec, layout)
    except _Refused as exc:
        raise _refuse(where, str(exc)) from None


def _check_layout(spec: dict, layout: Mapping[str, tuple]) -> None:
    expected = expected_arrays(spec)
    missing = [n for n in expected if n not in layout]
    extra = sorted(set(layout) - set(expected) - {"spec"})
    if missing or extra:
        raise _Refused(f"array '{(missing or extra)[0]}' is "
                       f"{'missing' if missing else 'not part of the model'}")
    for block in spec["blocks"]:
        if block["kind"] == "tfidf":
            buckets, idf = f"{block['name']}.buckets", f"{block['name']}.idf"
            _array(layout, buckets, "iu", 1)
            _array(layout, idf, "f", 1)
            if layout[idf][1] != layout[buckets][1]:
                raise _Refused(f"array '{idf}' holds {layout[idf][1][0]} values for "
                               f"{layout[buckets][1][0]} buckets ('{buckets}')")
            if layout[buckets][1][0] > 1 << block["n_bits"]:
                raise _Refused(f"array '{buckets}' holds more buckets than 2**n_bits")
    n_features = sum(block_width(b, layout) for b in spec["blocks"])
    _check_outputs(spec, layout, n_features)


def _check_outputs(spec: dict, layout: Mapping[str, tuple], n_features: int) -> None:
    n_primary = 1 if spec["primary_binary"] else len(spec["primary_columns"])
    n_membership = len(spec["membership_columns"])
    shapes = {"primary.coef": (n_primary, n_features), "primary.intercept": (n_primary,),
              "membership.coef": (n_features, n_membership),
              "membership.intercept": (n_membership,)}
    for name, shape in shapes.items():
        _array(layout, name, "f", len(shape))
        if layout[name][0] not in _FLOATS:
            raise _Refused(f"array '{name}' must be float32 or float64, got {layout[name][0]}")
        if tuple(layout[name][1]) != shape:
            raise _Refused(f"array '{name}' has shape {tuple(layout[name][1])}, the spec and "
                           f"the feature blocks ({n_features} features) give {shape}")


def _array(layout: Mapping[str, tuple], name: str, kinds: str, ndim: int) -> None:
    dtype, shape = layout[name]
    if dtype.kind not in kinds or dtype.hasobject or dtype.names is not None:
        raise _Refused(f"array '{name}' has dtype {dtype}")
    if len(shape) != ndim:
        raise _Refused(f"array '{name}' has {len(shape)} dimensions, not {ndim}")


def check_values(spec: dict, arrays: Mapping[str, np.ndarray], where) -> None:
    """Check the arrays' values: buckets sorted, distinct and below ``2**n_bits``; idf,
    coefficients and intercepts finite (idf positive). Call after :func:`check_layout`.

    Raises
    ------
    ModelError
        Naming the first array that fails.
    """
    for block in spec["blocks"]:
        if block["kind"] != "tfidf":
            continue
        name = block["name"]
        buckets, idf = arrays[f"{name}.buckets"], arrays[f"{name}.idf"]
        if len(buckets) and (buckets[0] < 0 or buckets[-1] >= 1 << block["n_bits"]
                             or not (buckets[1:] > buckets[:-1]).all()):
            raise _refuse(where, f"array '{name}.buckets' must be sorted, distinct and from 0 "
                                 f"to 2**{block['n_bits']} - 1")
        if not (np.isfinite(idf).all() and (idf > 0).all()):
            raise _refuse(where, f"array '{name}.idf' holds values that are not finite and "
                                 "positive")
    for name in ("primary.coef", "primary.intercept", "membership.coef",
                 "membership.intercept"):
        if not np.isfinite(arrays[name]).all():
            raise _refuse(where, f"array '{name}' holds values that are not finite")


def npz_layout(path: str | Path) -> dict[str, tuple[np.dtype, tuple]]:
    """Each array's dtype and shape in a ``.npz`` file, read from the headers only.

    Every member must be stored uncompressed (as ``np.savez`` writes them) and hold exactly the
    bytes its header announces, so that reading the arrays costs no more memory than the
    file's size.

    Raises
    ------
    ModelError
        If the file is not such an archive.
    """
    layout: dict[str, tuple[np.dtype, tuple]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if name in layout or name == info.filename:
                    raise _Refused(f"member '{info.filename}' is not one array of the model")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise _Refused(f"array '{name}' is compressed (model.npz stores its arrays "
                                   "uncompressed)")
                with archive.open(info) as member:
                    layout[name] = _npy_header(member, info.file_size, name)
    except _Refused as exc:
        raise _refuse(path, str(exc)) from None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _refuse(path, f"not a readable model.npz ({type(exc).__name__}: {exc})") from None
    return layout


def _npy_header(member, size: int, name: str) -> tuple[np.dtype, tuple]:
    from numpy.lib import format as npy

    version = npy.read_magic(member)
    if version == (1, 0):
        shape, fortran_order, dtype = npy.read_array_header_1_0(member)
    else:
        shape, fortran_order, dtype = npy.read_array_header_2_0(member)
    if dtype.hasobject:
        raise _Refused(f"array '{name}' holds Python objects")
    data = math.prod(shape) * dtype.itemsize
    if member.tell() + data != size:
        raise _Refused(f"array '{name}' announces {data} bytes of data, its member holds "
                       f"{size - member.tell()}")
    return dtype, tuple(shape)


_NUMBER = (int, float)
_NONE = type(None)
# model.json: the type of each field the package reads, where it is present. A dict of field
# names is an object with those fields (others allowed); {str: X} is an object whose every value
# is X; [X] is a list of X.
_META_SCHEMA = {
    "format": int,
    "name": str, "created": str, "package_version": str, "sklearn_version": str,
    "python_version": str, "config_source": (str, _NONE),
    "taxonomy": {"name": str, "ids": [str], "fingerprint": str, "source": (str, _NONE)},
    "config": {"features": {str: bool}, "seed": int, "params": dict, "context": (dict, _NONE)},
    "training_data": {"files": [str], "sentences": int, "fingerprint": (str, _NONE),
                      "weak_labels": bool, "primary_counts": {str: int}},
    "cv_metrics": ({str: (_NUMBER, list, _NONE)}, _NONE),
    "thresholds": ({str: _NUMBER}, _NONE),
    "sha256": {str: str},
    "embeddings": {"model": str, "version": (str, _NONE)},
    "shared": {"format": str, "skops_version": str, "exported": str, "source_sha256": str},
    "data_findings": list,
    "platform": dict,
}


def check_meta(meta, where) -> dict:
    """Check the types of the ``model.json`` fields the package reads.

    Raises
    ------
    ModelError
        Naming the first field of the wrong type.
    ConfigError
        If its ``config.context`` is not a valid context setting.
    """
    from policy_themes.config import context_config

    try:
        _conform(meta, _META_SCHEMA, "model.json")
    except _Refused as exc:
        raise _refuse(where, str(exc)) from None
    context_config((meta.get("config") or {}).get("context"), str(where))
    return meta


def _conform(value, schema, name: str) -> None:
    """Raise :class:`_Refused` unless ``value`` has the shape ``schema`` describes."""
    if isinstance(schema, tuple) and any(isinstance(s, (dict, list)) for s in schema):
        if value is None and _NONE in schema:
            return
        schema = next(s for s in schema if isinstance(s, (dict, list)))
    if isinstance(schema, list):
        for i, item in enumerate(_need(value, list, name)):
            _conform(item, schema[0], f"{name}[{i}]")
    elif isinstance(schema, dict) and list(schema) == [str]:
        for key, item in _need(value, dict, name).items():
            _conform(item, schema[str], f"{name}[{_shown(key)}]")
    elif isinstance(schema, dict):
        for key, item in _need(value, dict, name).items():
            if key in schema:
                _conform(item, schema[key], f"{name}.{key}")
    else:
        _need(value, _flat(schema), name)


def _flat(schema) -> tuple:
    types = schema if isinstance(schema, tuple) else (schema,)
    return tuple(t for part in types for t in (part if isinstance(part, tuple) else (part,)))
