"""Plain JSON data from what the package computes: one encoder for model.json and the reports."""

from __future__ import annotations

import json
import math
from pathlib import PurePath

import numpy as np

__all__ = ["json_data", "dumps"]


def json_data(value):
    """``value`` as plain JSON data.

    NumPy scalars and arrays become numbers and lists, tuples and sets lists, paths strings,
    NaN and infinities None (JSON has neither); anything else becomes its ``str``.

    Parameters
    ----------
    value : object

    Returns
    -------
    dict, list, str, int, float, bool or None
    """
    if isinstance(value, dict):
        return {str(k): json_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_data(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [json_data(v) for v in sorted(value, key=str)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def dumps(value, *, indent: int | None = 2) -> str:
    """:func:`json_data` of ``value`` as a JSON document (UTF-8 text, non-ASCII kept)."""
    return json.dumps(json_data(value), indent=indent, ensure_ascii=False)
