"""Label Studio files: tasks to import (with the model's guesses as pre-annotations), the
labeling config that shows them, and reading an export back as a labeled table.

The labeling config has two choice controls over the sentence: ``primary`` (one theme) and
``themes`` (the other themes it carries, any number). An export (Label Studio's JSON export, a
list of tasks with their ``annotations``) is read as a labeled table with ``text``, ``themes``
(the primary first) and the task's other data fields (``doc_id``, the context columns), so
``train`` and ``evaluate`` take the file as they take a CSV.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd

from policy_themes.errors import DataError
from policy_themes.rules.taxonomy import THEME_SEP, Taxonomy

__all__ = ["PRIMARY_CONTROL", "THEMES_CONTROL", "TEXT_OBJECT", "is_label_studio_file",
           "label_studio_tasks", "label_studio_config", "read_label_studio"]

#: The choice control for the primary theme.
PRIMARY_CONTROL = "primary"
#: The choice control for the other themes of a sentence.
THEMES_CONTROL = "themes"
#: The text object the controls label.
TEXT_OBJECT = "text"


def is_label_studio_file(path: str | Path) -> bool:
    """Whether ``path`` names a Label Studio JSON file (``.json``, optionally ``.gz``)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] == ".json"


def label_studio_tasks(frame: pd.DataFrame, *, model_version: str = "policy-themes",
                       primary_column: str = "guess", themes_column: str = "guess_themes",
                       score_column: str = "probability") -> list[dict]:
    """Label Studio tasks for the rows of ``frame``, the model's guess as a prediction.

    Parameters
    ----------
    frame : DataFrame
        ``text``, the guessed primary theme, the guessed theme set (ids joined by ``;``) and
        its probability; every other column goes into the task's ``data``.
    model_version : str, default="policy-themes"
        Shown in Label Studio beside the prediction.
    primary_column, themes_column, score_column : str
        Columns of the guess.

    Returns
    -------
    list of dict
        Tasks in Label Studio's import format (``data`` and ``predictions``).
    """
    guess = {primary_column, themes_column, score_column}
    data_columns = [c for c in frame.columns if c not in guess]
    tasks = []
    for i, row in enumerate(frame.to_dict("records")):
        primary = str(row[primary_column])
        others = [t for t in str(row[themes_column]).split(THEME_SEP) if t and t != primary]
        result = [_choices(f"{i}-primary", PRIMARY_CONTROL, [primary])]
        if others:
            result.append(_choices(f"{i}-themes", THEMES_CONTROL, others))
        data = {str(k): _plain(v) for k, v in row.items() if k in data_columns}
        tasks.append({"data": data, "predictions": [{
            "model_version": model_version, "score": round(float(row[score_column]), 4),
            "result": result}]})
    return tasks


def _choices(result_id: str, control: str, choices: list[str]) -> dict:
    return {"id": result_id, "from_name": control, "to_name": TEXT_OBJECT, "type": "choices",
            "value": {"choices": choices}}


def _plain(value):
    """A cell as JSON data: missing values as empty strings, numpy scalars as Python ones."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return value.item() if hasattr(value, "item") else value


def label_studio_config(taxonomy: Taxonomy, *, context_columns: Sequence[str] = ()) -> str:
    """The labeling config (XML) for tasks made by :func:`label_studio_tasks`: the context
    columns and the sentence, a ``primary`` single choice and a ``themes`` multiple choice,
    each theme with its description as a hint."""
    lines = ["<View>"]
    for column in context_columns:
        lines.append(f'  <Text name={quoteattr("ctx_" + column)} value={quoteattr("$" + column)} '
                     'granularity="word"/>')
    lines += ['  <Header value="Sentence"/>',
              f'  <Text name="{TEXT_OBJECT}" value="$text"/>',
              '  <Header value="Primary theme"/>',
              f'  <Choices name="{PRIMARY_CONTROL}" toName="{TEXT_OBJECT}" choice="single" '
              'required="true" showInline="false">']
    lines += _choice_lines(taxonomy)
    lines += ["  </Choices>", '  <Header value="Other themes it carries (optional)"/>',
              f'  <Choices name="{THEMES_CONTROL}" toName="{TEXT_OBJECT}" choice="multiple" '
              'showInline="false">']
    lines += _choice_lines(taxonomy)
    lines += ["  </Choices>", "</View>", ""]
    return "\n".join(lines)


def _choice_lines(taxonomy: Taxonomy) -> list[str]:
    return [f"    <Choice value={quoteattr(theme.id)} hint={quoteattr(theme.description or '')}/>"
            for theme in taxonomy.themes]


def read_label_studio(path: str | Path, *, text_column: str = "text",
                      control: str | None = None):
    """Read a Label Studio export (JSON or JSON-MIN): the annotated tasks as rows of text and
    themes.

    In the JSON export, each task's last annotation that was not cancelled gives its labels:
    the ``primary`` choice first, then the ``themes`` choices (a config with one choice
    control: its choices, the first as primary). The JSON-MIN export (a list of flat objects,
    one an annotation: the task's data fields beside each control's choices, one choice as a
    string, several as ``{"choices": [...]}``) gives the ``primary`` field's choice first, then
    the ``themes`` field's. Tasks without such an annotation are left out.

    Parameters
    ----------
    path : str or Path
        The export (``.json``, optionally ``.gz``).
    text_column : str, default="text"
        The task data field holding the sentence.
    control : str, default=None
        The choice control holding the themes (the first choice as primary); None reads the
        ``primary`` and ``themes`` controls of :func:`label_studio_config`.

    Returns
    -------
    frame : DataFrame
        ``text``, ``themes`` (the choices, ``;`` between them, for
        :func:`~policy_themes.io.labels.parse_themes`) and the tasks' other data fields.
    rows : list of int
        The tasks' positions in the file (from 1), one a row of ``frame``.
    skipped : list of int
        The positions of annotated tasks with blank text.

    Raises
    ------
    DataError
        If the file is not a Label Studio export.
    """
    path = Path(path)
    tasks = _load_tasks(path)
    minimal = _is_json_min(tasks)
    records, positions = [], []
    for number, task in enumerate(tasks, start=1):
        themes = _min_themes(task, path, number, control) if minimal else \
            _annotated_themes(task, path, number, control)
        if themes is None:
            continue
        data = _min_data(task, control) if minimal else dict(task.get("data") or {})
        if text_column not in data:
            raise DataError(f"{path}: task {number} has no '{text_column}' in its data")
        text = data.pop(text_column)
        if text is not None and not isinstance(text, str):
            raise DataError(f"{path}: task {number}: '{text_column}' holds "
                            f"{type(text).__name__}, not text")
        data["text"] = text or ""
        records.append({**data, "themes": THEME_SEP.join(themes)})
        positions.append(number)
    if not records:
        raise DataError(f"{path}: no annotated task (label some tasks in Label Studio, then "
                        "export them as JSON)")
    frame = pd.DataFrame.from_records(records)
    blank = frame["text"].str.strip() == ""
    skipped = [p for p, b in zip(positions, blank) if b]
    frame = frame[~blank].reset_index(drop=True)
    rows = [p for p, b in zip(positions, blank) if not b]
    return frame, rows, skipped


#: The fields Label Studio adds to each object of a JSON-MIN export.
_MIN_FIELDS = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time",
               "agreement"}


def _is_json_min(tasks: list[dict]) -> bool:
    """Whether the tasks are a JSON-MIN export: flat objects, none with ``data`` or
    ``annotations``."""
    return not any("data" in t or "annotations" in t or "predictions" in t for t in tasks)


def _min_themes(task: dict, path: Path, number: int, control: str | None) -> list[str] | None:
    """The themes of a JSON-MIN object, primary first (None when it has none)."""
    controls = (control,) if control else (PRIMARY_CONTROL, THEMES_CONTROL)
    themes: list[str] = []
    for name in controls:
        themes += _min_choices(task.get(name), path, number, name)
    return list(dict.fromkeys(themes)) or None


def _min_choices(value, path: Path, number: int, name: str) -> list[str]:
    """A control's choices in JSON-MIN: a string (one), ``{"choices": [...]}`` (several) or a
    list of those (a control used twice)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and isinstance(value.get("choices"), list) \
            and all(isinstance(c, str) for c in value["choices"]):
        return list(value["choices"])
    if isinstance(value, list) and all(isinstance(v, (str, dict)) for v in value):
        return [c for v in value for c in _min_choices(v, path, number, name)]
    raise DataError(f"{path}: task {number}: '{name}' is not a Label Studio choice (a theme id "
                    'or {"choices": [...]})')


def _min_data(task: dict, control: str | None) -> dict:
    """A JSON-MIN object's data fields: all but the controls and Label Studio's own fields."""
    dropped = _MIN_FIELDS | ({control} if control else {PRIMARY_CONTROL, THEMES_CONTROL})
    return {k: v for k, v in task.items() if k not in dropped}


def _load_tasks(path: Path) -> list:
    """The export's tasks; a ``.gz`` export decompressed within the package's limit
    (:func:`~policy_themes.limits.max_decompressed_bytes`)."""
    import io

    from policy_themes.io.decoding import capped_gzip, is_gzip, refuse_gzip_bomb

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if is_gzip(path):
        refuse_gzip_bomb(path)
    try:
        with open(path, "rb") as raw:
            stream = capped_gzip(raw, path) if is_gzip(path) else raw
            tasks = json.load(io.TextIOWrapper(stream, encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: JSON, UTF-8, an int of 5,000 digits
        raise DataError(f"{path}: not a Label Studio JSON export ({exc})") from None
    except RecursionError:  # arrays in arrays thousands of levels deep
        raise DataError(f"{path}: not a Label Studio JSON export (nested too deeply)") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise DataError(f"{path}: not a Label Studio JSON export (expected a list of tasks)")
    return tasks


def _annotated_themes(task: dict, path: Path, number: int,
                      control: str | None = None) -> list[str] | None:
    """The themes of a task's last annotation that was not cancelled, primary first (those of
    ``control`` alone, when given)."""
    annotations = [a for a in task.get("annotations") or []
                   if isinstance(a, dict) and not a.get("was_cancelled")]
    if not annotations:
        return None
    chosen: dict[str, list[str]] = {}
    result = annotations[-1].get("result")
    for item in result if isinstance(result, list) else []:
        if isinstance(item, dict) and item.get("type") == "choices":
            value = item.get("value")
            choices = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                raise DataError(f"{path}: task {number}: a choices result must hold a list of "
                                "theme ids in value.choices")
            chosen.setdefault(str(item.get("from_name")), []).extend(choices)
    if control:
        return list(dict.fromkeys(chosen.get(control, []))) or None
    if PRIMARY_CONTROL in chosen:
        first = chosen.pop(PRIMARY_CONTROL)
    elif len(chosen) == 1:
        first = chosen.pop(next(iter(chosen)))
    else:
        names = ", ".join(sorted(chosen)) or "none"
        raise DataError(f"{path}: task {number}: no '{PRIMARY_CONTROL}' choice among the "
                        f"annotation's choice controls ({names})")
    rest = chosen.get(THEMES_CONTROL, [])
    return list(dict.fromkeys(first + rest)) or None
