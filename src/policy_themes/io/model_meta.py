"""Check the types of what a model's ``model.json`` holds before anything reads it.

``model.json`` is plain JSON beside the model's files, and anyone who hands over a model
directory can edit it (its SHA-256 entries guard the other files, not itself). The commands read
many of its fields (the taxonomy's ids, the training config's features and context, the
training data's counts, the thresholds); :func:`check_model_meta` checks each field they read
for its type, so that a field of the wrong type is one line naming the field, not a traceback
wherever it is first used. Fields that are absent keep their defaults, as before.
"""

from __future__ import annotations

from collections.abc import Callable

from policy_themes.errors import ConfigError, ModelError

__all__ = ["check_model_meta"]

Check = Callable[[object, str, str], None]  # (value, the model, the field's dotted path)


def check_model_meta(meta: object, where: str) -> dict:
    """Check the fields of a model's metadata (``model.json``, or the copy in a ``.skops``).

    Parameters
    ----------
    meta : object
        The parsed JSON.
    where : str
        The model, for messages.

    Returns
    -------
    dict
        ``meta``, unchanged.

    Raises
    ------
    ModelError
        If it is not a mapping or a field it holds has the wrong type; the message names the
        field, what it must be and what it is.
    """
    if not isinstance(meta, dict):
        raise ModelError(f"{where}: model.json must hold a mapping, not {_kind(meta)}")
    for key, check in _FIELDS.items():
        if key in meta:
            check(meta[key], where, key)
    return meta


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _of(*types: type, name: str) -> Check:
    def check(value: object, where: str, path: str) -> None:
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ModelError(f"{where}: model.json field '{path}' must be {name}, not "
                             f"{_kind(value)} {str(value)[:40]!r}")
    return check


_str = _of(str, name="a string")
_int = _of(int, name="a whole number")
_bool = _of(bool, name="true or false")
_number = _of(int, float, name="a number")
_list = _of(list, name="a list")
_dict = _of(dict, name="a mapping")


def _optional(check: Check) -> Check:
    def optional(value: object, where: str, path: str) -> None:
        if value is not None:
            check(value, where, path)
    return optional


def _list_of(item: Check) -> Check:
    def check(value: object, where: str, path: str) -> None:
        _list(value, where, path)
        for index, element in enumerate(value):
            item(element, where, f"{path}[{index}]")
    return check


def _map_of(item: Check) -> Check:
    """A mapping whose every value passes ``item``."""
    def check(value: object, where: str, path: str) -> None:
        _dict(value, where, path)
        for key, element in value.items():
            item(element, where, f"{path}.{key}")
    return check


def _fields(fields: dict[str, Check]) -> Check:
    """A mapping whose listed fields, where present, pass their checks (others pass)."""
    def check(value: object, where: str, path: str) -> None:
        _dict(value, where, path)
        for key, field_check in fields.items():
            if key in value:
                field_check(value[key], where, f"{path}.{key}")
    return check


def _context(value: object, where: str, path: str) -> None:
    """The training config's ``context``, as strictly as a config file's."""
    from policy_themes.config import context_config

    try:
        context_config(value, f"{where}: model.json field 'config'")
    except ConfigError as exc:
        raise ModelError(str(exc)) from None


def _metric(value: object, where: str, path: str) -> None:
    """A metric: a number, a (low, high) interval, or null."""
    if isinstance(value, list):
        _list_of(_optional(_number))(value, where, path)
    else:
        _optional(_number)(value, where, path)


_FIELDS: dict[str, Check] = {
    "format": _int,
    "name": _optional(_str),
    "created": _optional(_str),
    "package_version": _optional(_str),
    "sklearn_version": _optional(_str),
    "python_version": _optional(_str),
    "config_source": _optional(_str),
    "sha256": _map_of(_str),
    "taxonomy": _fields({"name": _str, "ids": _list_of(_str), "fingerprint": _str,
                         "source": _str}),
    "config": _fields({"features": _map_of(_bool), "context": _context}),
    "training_data": _fields({"files": _list_of(_str), "sentences": _int, "weak_labels": _bool,
                              "primary_counts": _map_of(_int), "fingerprint": _str}),
    "thresholds": _map_of(_number),
    "cv_metrics": _optional(_map_of(_metric)),
    "embeddings": _fields({"model": _str, "version": _optional(_str)}),
    "shared": _optional(_dict),
    "data_findings": _list,
    "platform": _dict,
}
