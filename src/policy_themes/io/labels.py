"""Labeled tables: theme labels parsed against a taxonomy, and what the checks of labeled data find
(blank rows, duplicates, conflicting labels)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.errors import DataError
from policy_themes.io.formats import file_format
from policy_themes.io.sentence_frames import blank_mask
from policy_themes.io.tables import (
    BLANK_TEXT,
    CONFLICT,
    DUPLICATE,
    TEXT_COL,
    THEME_COL,
    THEMES_COL,
    _first_row,
    check_columns,
    read_table,
    refuse_non_text,
)
from policy_themes.rules.taxonomy import NO_THEME, THEME_SEP, Taxonomy

__all__ = ["parse_themes", "join_themes", "read_labeled", "read_labeled_table", "LabeledTable",
           "DataFinding", "blank_rows_finding", "label_findings"]

def parse_themes(values: Iterable[object], taxonomy: Taxonomy, *, source: str = "input",
                 first_row: int = 2, rows: Sequence[int] | None = None) -> list[list[str]]:
    """Parse ``;``-joined theme cells into lists of ids, checking every id against the taxonomy.

    Parameters
    ----------
    values : iterable
        Cells such as ``"energy_diplomacy;bilateral_relations"``.
    taxonomy : Taxonomy
        The taxonomy whose ids are allowed.
    source : str, default="input"
        Name of the file, for error messages.
    first_row : int, default=2
        File line number of the first value (2 for a CSV with a header), for error messages.
    rows : sequence of int, default=None
        File line number of every value, when they are not consecutive (overrides
        ``first_row``).

    Returns
    -------
    list of list of str
        Theme ids per row, primary first, duplicates removed. A label that is a theme's
        ``name`` rather than its id (``Protectionism: Positive``) is read as that theme's id.

    Raises
    ------
    DataError
        If a cell is empty or names an unknown theme; the message names the rows.
    """
    known = set(taxonomy.ids)
    by_name = {theme.name: theme.id for theme in taxonomy.themes}
    values = _theme_cells(values, source, first_row, rows)
    # each distinct cell is parsed once; a missing cell (code -1) is the last, empty one
    codes, distinct = pd.factorize(pd.Series(values, dtype=object))
    cells = [_parse_theme_cell(value, known, by_name) for value in distinct] + [([], [])]
    parsed = [list(cells[code][0]) for code in codes.tolist()]
    faulty = np.flatnonzero([not ids or bool(bad) for ids, bad in cells])
    faulty[faulty == len(cells) - 1] = -1
    empty_rows: list[int] = []
    unknown: dict[str, list[int]] = {}
    for i in np.flatnonzero(np.isin(codes, faulty)).tolist():
        ids, bad = cells[codes[i]]
        row = rows[i] if rows is not None else first_row + i
        if not ids:
            empty_rows.append(row)
        for theme in bad:
            unknown.setdefault(theme, []).append(row)
    if unknown:
        theme, rows = next(iter(unknown.items()))
        more = f" (and {len(unknown) - 1} more unknown ids)" if len(unknown) > 1 else ""
        shown = theme if len(theme) <= 60 else theme[:59] + "…"  # a hostile id may be huge
        raise DataError(
            f"{source}: unknown theme '{shown}' in {_rows_text(rows)}{more}; "
            f"known themes: {', '.join(taxonomy.ids)}"
        )
    if empty_rows:
        raise DataError(f"{source}: empty themes cell in {_rows_text(empty_rows)}")
    return parsed


def _theme_cells(values: Iterable[object], source: str, first_row: int,
                 rows: Sequence[int] | None) -> list[object]:
    """The cells as text to split: a list of ids (a Parquet list column, JSON) joined by
    ``;``; a cell of another structure (an object, a list of lists) refused, naming its row."""
    cells = values.tolist() if isinstance(values, pd.Series) else list(values)
    for i, cell in enumerate(cells):
        if isinstance(cell, (str, float, int)) or cell is None:
            continue
        if isinstance(cell, (list, tuple, np.ndarray)) and all(isinstance(t, str) for t in cell):
            cells[i] = THEME_SEP.join(cell)
            continue
        row = rows[i] if rows is not None else first_row + i
        raise DataError(f"{source}: row {row}: a themes cell must be theme ids (text, ';' "
                        f"between several, or a list of them), got {type(cell).__name__}")
    return cells


def _parse_theme_cell(value: object, known: set[str], by_name: dict[str, str]
                      ) -> tuple[list[str], list[str]]:
    """A cell's theme ids (``none`` dropped beside other themes) and its unknown ids."""
    ids = [by_name.get(t, t) if t not in known else t for t in _split_theme_cell(value)]
    bad = [t for t in ids if t not in known]
    if len(ids) > 1 and NO_THEME in ids:
        ids = [t for t in ids if t != NO_THEME]
    return ids, bad


def _split_theme_cell(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    ids: list[str] = []
    for part in str(value).split(THEME_SEP):
        part = part.strip()
        if part and part not in ids:
            ids.append(part)
    return ids


def _rows_text(rows: list[int]) -> str:
    rows = list(dict.fromkeys(rows))  # the sentences of one document share its row
    shown = ", ".join(map(str, rows[:5]))
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def join_themes(themes: Sequence[str]) -> str:
    """Join theme ids with ``;``, the inverse of :func:`parse_themes` for one row."""
    return THEME_SEP.join(themes)


@dataclass
class LabeledTable:
    """A labeled table as read: its rows, where each one is in the file, and the rows skipped.

    Attributes
    ----------
    frame : DataFrame
        ``text``, ``themes`` (list of ids per row, primary first) and the table's other columns;
        rows whose text is blank or missing are left out.
    source : str
        The file.
    rows : list of int
        Row number in the file (line of a CSV, TSV or JSONL file) of each row of ``frame``.
    skipped : list of int
        Row numbers of the rows left out because their text is blank or missing.
    """

    frame: pd.DataFrame
    source: str
    rows: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    @property
    def locations(self) -> list[tuple[str, int]]:
        """``(source, row)`` of each row of ``frame``, for :func:`label_findings`."""
        return [(self.source, row) for row in self.rows]


def read_labeled_table(path: str | Path, taxonomy: Taxonomy, *, text_column: str = TEXT_COL,
                       label_column: str | None = None,
                       encoding: str | None = None) -> LabeledTable:
    """Read a labeled table, skip rows with blank text, and validate the theme labels.

    Parameters and errors as for :func:`read_labeled`, which returns only the frame. A
    ``.json`` file is a Label Studio export (:func:`read_label_studio`); a JSON-lines file with
    a ``label`` or ``accept`` field and no label column is a doccano or Prodigy export
    (:func:`~policy_themes.io.jsonl_tasks.annotation_export_frame`).

    Returns
    -------
    LabeledTable
    """
    from policy_themes.io.jsonl_tasks import annotation_export_frame, is_annotation_export
    from policy_themes.io.labelstudio import is_label_studio_file, read_label_studio

    if is_label_studio_file(path):
        frame, rows, skipped = read_label_studio(path, text_column=text_column,
                                                 control=label_column)
        frame["themes"] = parse_themes(frame["themes"], taxonomy, source=str(path), rows=rows)
        return LabeledTable(frame, str(path), rows, skipped)
    frame = read_table(path, encoding=encoding, columns=[text_column])
    path = Path(path)
    first = _first_row(path)
    refuse_non_text(frame[text_column], text_column, path, first)
    lines = None
    if label_column is None and file_format(path) == "jsonl" and is_annotation_export(frame):
        frame, lines = annotation_export_frame(frame, str(path))
        if frame.empty:
            raise DataError(f"{path}: no labeled line (label some sentences, then export them)")
        label_column = THEMES_COL
    if label_column is None:
        label_column = THEMES_COL if THEMES_COL in frame.columns else THEME_COL
        if label_column not in frame.columns:
            have = ", ".join(map(str, frame.columns))
            raise DataError(f"{path}: no '{THEMES_COL}' or '{THEME_COL}' column (columns: {have})")
    check_columns(frame, [label_column], path)
    positions = np.asarray(lines if lines is not None else first + np.arange(len(frame)))
    blank = blank_mask(frame[text_column])
    skipped = positions[blank].tolist()
    rows = positions[~blank].tolist()
    if skipped:
        frame = frame[~blank].reset_index(drop=True)
    labels = parse_themes(frame[label_column], taxonomy, source=str(path), rows=rows)
    frame = frame.drop(columns=[c for c in (label_column, THEMES_COL) if c in frame.columns])
    frame = frame.rename(columns={text_column: TEXT_COL}).copy()
    frame[TEXT_COL] = frame[TEXT_COL].fillna("").astype(str)
    frame[THEMES_COL] = labels
    return LabeledTable(frame, str(path), rows, skipped)


def read_labeled(path: str | Path, taxonomy: Taxonomy, *, text_column: str = TEXT_COL,
                 label_column: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a labeled table and validate its texts and theme labels.

    The table needs a text column and a label column: ``themes`` (ids joined by ``;``, primary
    first) or a single-id ``theme`` column by default. Labels may be theme ids or theme names.
    Rows whose text is blank or missing are skipped (:func:`read_labeled_table` says which).

    Parameters
    ----------
    path : str or Path
        The table.
    taxonomy : Taxonomy
        The taxonomy whose ids (or names) the labels use.
    text_column : str, default="text"
        Column holding the sentences.
    label_column : str, default=None
        Column holding the labels; None looks for ``themes``, then ``theme`` (in a Label Studio
        export: the choice control; None reads ``primary``, then ``themes``).
    encoding : str, default=None
        Text encoding; None detects UTF-8 or UTF-16 from a byte-order mark.

    Returns
    -------
    DataFrame
        ``text``, ``themes`` (list of ids per row, primary first) and the table's other columns.

    Raises
    ------
    DataError
        If the file is unreadable, a column is missing, or a label is empty or unknown.
    """
    return read_labeled_table(path, taxonomy, text_column=text_column, label_column=label_column,
                              encoding=encoding).frame


@dataclass(frozen=True)
class DataFinding:
    """Something in the input worth a warning that does not stop the run.

    Attributes
    ----------
    kind : str
        ``"blank_text"`` (rows or documents skipped), ``"duplicate"`` (rows repeating an earlier
        row's text and themes) or ``"conflicting_labels"`` (one text, different themes).
    message : str
        One line for a person: what, where (file and rows), and what was done about it.
    count : int
        How many rows (or documents) it concerns.
    rows : tuple of str
        ``"file:row"`` of the rows concerned (the first 100).
    """

    kind: str
    message: str
    count: int
    rows: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        """Plain data for ``model.json`` and reports."""
        return {"kind": self.kind, "message": self.message, "count": self.count,
                "rows": list(self.rows)}


def blank_rows_finding(skipped: dict[str, list[int]]) -> DataFinding | None:
    """Sum up what was skipped for blank text: ``{source: rows}``, no rows for an empty
    document. None when nothing was skipped."""
    rows = [(source, row) for source, numbers in skipped.items() for row in numbers]
    documents = [source for source, numbers in skipped.items() if not numbers]
    if not rows and not documents:
        return None
    parts = []
    if rows:
        parts.append(f"{len(rows):,} row{_plural(len(rows))} with blank or missing text "
                     f"({_where(rows)})")
    if documents:
        more = f" and {len(documents) - 5:,} more" if len(documents) > 5 else ""
        parts.append(f"{len(documents):,} empty document{_plural(len(documents))} "
                     f"({', '.join(documents[:5])}{more})")
    places = tuple(f"{source}:{row}" for source, row in rows[:100]) + tuple(documents[:100])
    return DataFinding(BLANK_TEXT, "skipped " + " and ".join(parts), len(rows) + len(documents),
                       places[:100])


def label_findings(texts: Sequence[str], themes: Sequence[Sequence[str]],
                   locations: Sequence[tuple[str, int]]) -> list[DataFinding]:
    """Find duplicate rows and texts labeled with different themes in labeled data.

    Texts are compared with white space folded. Nothing is changed: the findings say what
    was seen and that every row is used as labeled.

    Parameters
    ----------
    texts : sequence of str
        The sentences.
    themes : sequence of sequence of str
        Theme ids of each sentence, primary first.
    locations : sequence of (str, int)
        File and row number of each sentence, for the messages.

    Returns
    -------
    list of DataFinding
        A ``conflicting_labels`` finding, then a ``duplicate`` one, each only when there is
        something to report.
    """
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(" ".join(str(text).split()), []).append(i)
    duplicates: list[int] = []
    conflicts: list[list[int]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        seen: set[tuple[str, ...]] = set()
        for i in members:
            label = tuple(themes[i])
            if label in seen:
                duplicates.append(i)
            seen.add(label)
        if len(seen) > 1:
            conflicts.append(members)
    findings = []
    if conflicts:
        shown = "; ".join(_conflict_text(texts, themes, locations, g) for g in conflicts[:3])
        more = f"; and {len(conflicts) - 3:,} more" if len(conflicts) > 3 else ""
        places = [f"{locations[i][0]}:{locations[i][1]}" for g in conflicts for i in g]
        findings.append(DataFinding(
            CONFLICT, f"{len(conflicts):,} text{_plural(len(conflicts))} labeled with different "
                      f"themes in different rows: {shown}{more}; every row is used as labeled",
            len(places), tuple(places[:100])))
    if duplicates:
        duplicates.sort()
        where = [locations[i] for i in duplicates]
        findings.append(DataFinding(
            DUPLICATE, f"{len(duplicates):,} duplicate row{_plural(len(duplicates))} (the same "
                       f"text and themes as an earlier row): {_where(where)}; they are kept",
            len(duplicates), tuple(f"{source}:{row}" for source, row in where[:100])))
    return findings


def _conflict_text(texts, themes, locations, members: list[int]) -> str:
    text = " ".join(str(texts[members[0]]).split())
    text = text if len(text) <= 40 else text[:39].rstrip() + "…"
    labels = " vs ".join(dict.fromkeys(join_themes(themes[i]) for i in members))
    return f"{_where([locations[i] for i in members])} ('{text}': {labels})"


def _where(locations: Sequence[tuple[str, int]], limit: int = 5) -> str:
    """``a.csv rows 3, 4; b.csv row 9 and 2 more``: the first ``limit`` places, by file."""
    by_source: dict[str, list[int]] = {}
    for source, row in locations[:limit]:
        by_source.setdefault(source, []).append(row)
    text = "; ".join(f"{source} {_rows_text(rows)}" for source, rows in by_source.items())
    return text + (f" and {len(locations) - limit:,} more" if len(locations) > limit else "")


def _plural(count: int) -> str:
    return "" if count == 1 else "s"
