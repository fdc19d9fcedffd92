"""doccano and Prodigy files: tasks to import (one JSON object a line, the model's guesses as
labels), and reading an export back as a labeled table.

Two shapes, one object a line:

- doccano (text classification, JSONL import): ``{"text": ..., "label": [ids], "meta": {...}}``;
  its export is ``{"id": ..., "text": ..., "label": [ids], ...}`` (the ``meta`` fields nested
  or at the top level).
- Prodigy (the ``choice`` interface): ``{"text": ..., "options": [{"id": ..., "text": ...}],
  "accept": [ids], "meta": {...}}``; its export (``prodigy db-out``) adds ``"answer"``:
  ``accept``, ``reject`` or ``ignore``. Only accepted answers are read. An export of the
  binary ``textcat`` interface (``"label": id`` with an answer) is read too: an accepted answer
  labels the sentence with that theme.

An export is read as a labeled table with ``text``, ``themes`` (the labels, the first as primary)
and the other fields (the ``meta`` ones included), so ``train`` and ``evaluate`` take the file as
they take a CSV. Lines without a label (a sentence nobody labeled yet) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from policy_themes.errors import DataError
from policy_themes.rules.taxonomy import THEME_SEP, Taxonomy

__all__ = ["TASK_FORMATS", "DOCCANO_LABEL", "PRODIGY_ACCEPT", "jsonl_tasks",
           "is_annotation_export", "annotation_export_frame"]

#: The JSONL task formats :func:`jsonl_tasks` writes.
TASK_FORMATS = ("doccano", "prodigy")
#: The field of doccano's labels.
DOCCANO_LABEL = "label"
#: The field of Prodigy's chosen options.
PRODIGY_ACCEPT = "accept"
_ANSWER = "answer"
_META = "meta"


def jsonl_tasks(frame: pd.DataFrame, fmt: str, *, taxonomy: Taxonomy | None = None,
                themes_column: str = "guess_themes",
                meta_columns: Sequence[str] = ()) -> list[dict]:
    """doccano or Prodigy tasks for the rows of ``frame``, the model's guesses as labels.

    Parameters
    ----------
    frame : DataFrame
        ``text``, the guessed theme set (ids joined by ``;``, primary first) and the columns to
        keep in each task's ``meta``.
    fmt : {"doccano", "prodigy"}
        The shape (see the module's notes).
    taxonomy : Taxonomy, default=None
        For Prodigy: the themes offered as options (id, and name as text); None offers none
        (the recipe then gives them).
    themes_column : str, default="guess_themes"
        Column of the guessed theme sets.
    meta_columns : sequence of str, default=()
        Columns copied into ``meta`` (missing values as empty strings).

    Returns
    -------
    list of dict
        One task a row.

    Raises
    ------
    DataError
        If ``fmt`` is not one of :data:`TASK_FORMATS`.
    """
    if fmt not in TASK_FORMATS:
        raise DataError(f"unknown task format {fmt!r}: use one of {', '.join(TASK_FORMATS)}")
    options = [{"id": t.id, "text": t.name or t.id} for t in taxonomy.themes] \
        if taxonomy is not None else []
    tasks = []
    for row in frame.to_dict("records"):
        guesses = [t for t in str(row[themes_column]).split(THEME_SEP) if t]
        meta = {str(c): _plain(row[c]) for c in meta_columns if c in row}
        task = {"text": str(row["text"])}
        if fmt == "doccano":
            task[DOCCANO_LABEL] = guesses
        else:
            if options:
                task["options"] = options
            task[PRODIGY_ACCEPT] = guesses
        task[_META] = meta
        tasks.append(task)
    return tasks


def _plain(value):
    """A cell as JSON data: missing values as empty strings, numpy scalars as Python ones."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return value.item() if hasattr(value, "item") else value


def is_annotation_export(frame: pd.DataFrame) -> bool:
    """Whether a JSON-lines table is a doccano or Prodigy export: it has a ``label`` or an
    ``accept`` field and no ``themes`` or ``theme`` column."""
    columns = set(map(str, frame.columns))
    return bool(columns & {DOCCANO_LABEL, PRODIGY_ACCEPT}) and not columns & {"themes", "theme"}


def annotation_export_frame(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[int]]:
    """A doccano or Prodigy export (as read from its JSON lines) as a labeled table.

    Parameters
    ----------
    frame : DataFrame
        The export's lines, one a row (the file's line ``i + 1`` is row ``i``).
    source : str
        The file, for messages.

    Returns
    -------
    frame : DataFrame
        The labeled lines: ``themes`` (ids joined by ``;``, the first as primary), the ``meta``
        fields as columns (where the line has no field of that name) and the other fields that
        hold text or numbers (not Prodigy's ``answer`` and ``_hashes``); rejected, ignored and
        unlabeled lines are left out.
    lines : list of int
        Each row's line in the file (from 1).

    Raises
    ------
    DataError
        If a line's labels are not a list of strings (or one string).
    """
    keep = pd.Series(True, index=frame.index)
    if _ANSWER in frame.columns:
        keep &= frame[_ANSWER].astype(str) == "accept"
    field = PRODIGY_ACCEPT if PRODIGY_ACCEPT in frame.columns else DOCCANO_LABEL
    labels = [_labels(value, source, line)
              for line, value in zip(range(1, len(frame) + 1), frame[field])]
    keep &= pd.Series([bool(x) for x in labels], index=frame.index)
    lines = [i + 1 for i in range(len(frame)) if keep.iloc[i]]
    out = _with_meta(frame[keep.to_numpy()].reset_index(drop=True))
    out["themes"] = [THEME_SEP.join(x) for x, k in zip(labels, keep) if k]
    plain = [c for c in out.columns if c == "themes" or not (
        _holds_structures(out[c]) or str(c).startswith("_") or c == _ANSWER)]
    return out[plain], lines


def _labels(value, source: str, line: int) -> list[str]:
    """A line's labels: a list of ids (or one id); none for a missing value."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(dict.fromkeys(v for v in value if v.strip()))
    raise DataError(f"{source}: line {line}: the labels must be a list of theme ids (strings), "
                    f"got {type(value).__name__}")


def _with_meta(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``meta`` objects' fields as columns, where the line has no field of that name."""
    if _META not in frame.columns:
        return frame
    metas = [m if isinstance(m, dict) else {} for m in frame[_META]]
    names = list(dict.fromkeys(str(k) for m in metas for k in m))
    out = frame.drop(columns=[_META])
    for name in names:
        if name not in out.columns:
            out[name] = [m.get(name) for m in metas]
    return out


def _holds_structures(values: pd.Series) -> bool:
    """Whether a column holds lists or objects (Prodigy's options, doccano's comments)."""
    return values.dtype == object and any(isinstance(v, (list, dict)) for v in values)
