"""Theme profiles: how much each group of documents talks about each theme, with intervals.

:func:`profile` reads the output of ``predict`` (CSV, TSV, JSONL or Parquet, ``.gz`` allowed, or
a folder of Parquet parts) a chunk at a time and keeps, per document and group, the number of
sentences, of sentences with each primary theme and of sentences whose theme set holds each
theme. Memory is bounded by documents × themes, not by sentences. Everything after the reading
works on that small table:

- shares of each theme per group, sentence-weighted (by primary theme and by theme-set
  membership) and document-weighted (the mean of the group's documents' shares), with counts;
- 95 % bootstrap intervals that resample the documents of each group (a stratified multinomial
  resample, drawn for all replicates at once with numpy);
- how far each group stands out for a theme: its primary share over the share of every other
  sentence of the input, with the interval of that ratio;
- derived groups (``bins={"year": "decade"}``) and the ``top`` largest groups.

:class:`Profile` holds the tables as DataFrames; :meth:`Profile.write` writes them (CSV or
Parquet), three pictures (a heat map of groups × themes, lines over time, the groups that stand
out) and a ``profile.md`` that shows them with a few sentences of what stands out.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .formats import file_format
from .taxonomy import NO_THEME, THEME_SEP

__all__ = ["Profile", "profile", "BINS"]

DOC_COLUMN = "doc_id"
PRIMARY = "primary"
THEMES = "themes"
MODEL_PREFIX = "model_"  # predict names its columns so when the input had its own
MISSING = "(missing)"
BINS = {"decade": 10}
TIME_NAMES = ("year", "decade", "date", "period", "month")
TABLE_FORMATS = ("csv", "parquet")
LEVEL = 0.95
HEATMAP_ROWS = 30
TIME_ROWS = 100  # a heat map by time alone shows every time, up to this many
LINE_GROUPS = 5
LINE_THEMES = 4
STANDOUTS_PER_THEME = 3
_BATCH_ROWS = 131_072
_BOOT_CELLS = 4_000_000  # replicates × groups × columns of one bootstrap chunk
_KEPT_WEIGHTS = 16_000_000  # replicates × documents: weights kept between passes (64 MB)
_MEASURES = ("primary", "set", "doc_primary", "doc_set")


# ---------------------------------------------------------------------------------------------
# the result


@dataclass
class Profile:
    """Theme profiles of groups of predictions (see :func:`profile`).

    Attributes
    ----------
    by : list of str
        The group columns of the tables (a binned column under its new name: ``decade``).
    time : str or None
        The column read as time (binned, or named year, decade, date, period or month).
    themes : list of str
        Theme ids, most frequent primary theme first, ``none`` last.
    shares : DataFrame
        One row per group and theme: the ``by`` columns, ``theme``, ``sentences`` and
        ``documents`` of the group; ``primary_n``, ``primary_share`` (share of the group's
        sentences with this primary theme), ``set_n``, ``set_share`` (whose theme set holds
        it), ``doc_primary_share`` and ``doc_set_share`` (the mean over the group's documents),
        each share with ``_low`` and ``_high`` (95 % bootstrap interval over documents; NaN for
        a group of one document); ``rest_share`` (the primary share among every other sentence
        of the input) and ``ratio`` = ``primary_share`` / ``rest_share`` with its interval.
    groups : DataFrame
        One row per group: the ``by`` columns, ``sentences``, ``documents``.
    standouts : DataFrame
        For each theme but ``none``, the groups (of ``shares``) whose ratio stands out most:
        ranked by the low end of its interval, which must be above 1.
    over_time : DataFrame or None
        As ``shares``, by the time column alone, over every group of the input.
    across_time : DataFrame or None
        As ``shares``, by the other ``by`` columns (the heat map's rows), when ``by`` holds
        the time column and others.
    overall : DataFrame
        Every sentence of the input together: per theme ``primary_n``, ``primary_share``,
        ``set_n`` and ``set_share``.
    line_themes : list of str
        The themes drawn over time.
    sentences, documents : int
        Sentences and documents read.
    total_groups : int
        Groups before ``top`` kept the largest.
    top : int or None
        How many of the largest groups were kept.
    sources : list of str
        The files read.
    n_boot : int
        Bootstrap replicates.
    files : dict of str to Path
        What :meth:`write` wrote.
    """

    by: list[str]
    time: str | None
    themes: list[str]
    shares: pd.DataFrame
    groups: pd.DataFrame
    standouts: pd.DataFrame
    over_time: pd.DataFrame | None
    across_time: pd.DataFrame | None
    overall: pd.DataFrame
    line_themes: list[str]
    sentences: int
    documents: int
    total_groups: int
    top: int | None
    sources: list[str]
    n_boot: int
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def group_columns(self) -> list[str]:
        """The ``by`` columns but the time column: what a group is, across time."""
        return [c for c in self.by if c != self.time]

    def wide(self, value: str = "primary_share", *, table: str = "shares") -> pd.DataFrame:
        """One of a table's columns as groups × themes (rows indexed by the group columns).

        Parameters
        ----------
        value : str, default="primary_share"
            A column of the table: a share, a count, an interval end or ``ratio``.
        table : str, default="shares"
            ``shares``, ``over_time`` or ``across_time``.
        """
        frame = getattr(self, table)
        if frame is None or value not in frame.columns:
            raise DataError(f"the profile has no {table!r} table with a {value!r} column")
        keys = [c for c in frame.columns if c in self.by]
        wide = frame.pivot(index=keys, columns="theme", values=value)
        return wide[[t for t in self.themes if t in wide.columns]]

    def summary(self) -> list[str]:
        """A few sentences on what stands out, as in ``profile.md`` (Markdown)."""
        return _summary(self)

    def to_markdown(self, figures: Mapping[str, str] | None = None) -> str:
        """The ``profile.md`` text: the summary, the pictures (``figures``: name → relative
        path) and compact tables."""
        return _markdown(self, figures or {})

    def write(self, out_dir: str | Path, *, format: str = "csv") -> dict[str, Path]:
        """Write the tables, the pictures and ``profile.md`` into ``out_dir``.

        Parameters
        ----------
        out_dir : str or Path
            The folder; created if missing (its parent must exist).
        format : {"csv", "parquet"}, default="csv"
            The tables' format.

        Returns
        -------
        dict of str to Path
            Every file written, by name (``shares``, ``heatmap``, ``markdown``, ...).

        Raises
        ------
        DataError
            If the format is unknown or the folder cannot be made or written.
        """
        self.files = _write_profile(self, Path(out_dir), format)
        return self.files


# ---------------------------------------------------------------------------------------------
# the API function


def profile(
    predictions: str | Path | Sequence[str | Path],
    *,
    by: Sequence[str],
    bins: Mapping[str, str] | str | None = None,
    top: int | None = None,
    themes: Sequence[str] | None = None,
    doc_column: str = DOC_COLUMN,
    out_dir: str | Path | None = None,
    format: str = "csv",
    n_boot: int = 1000,
    seed: int = 0,
) -> Profile:
    """Profile predictions: theme shares per group, with bootstrap intervals and standouts.

    Parameters
    ----------
    predictions : str, Path or sequence of them
        Files written by ``predict`` (CSV, TSV, JSONL, Parquet; ``.gz`` allowed), or folders of
        Parquet parts (``predict --engine dask``). They need ``doc_id``, the ``by`` columns,
        ``primary`` and ``themes`` (``;``-joined ids, or lists); ``model_primary`` and
        ``model_themes`` are read instead when present.
    by : sequence of str
        The columns that make a group (one or more).
    bins : mapping of str to str, or str, default=None
        Columns of ``by`` to bin, e.g. ``{"year": "decade"}``: the column ``decade`` (values
        like ``1990s``) replaces ``year``. Years may be numbers or dates. A string is
        ``"year=decade"``, or ``"decade"`` for the ``by`` column named year, decade, date,
        period or month.
    top : int, default=None
        Keep the ``top`` groups with the most sentences. With a time column among ``by``, a
        group is the other columns' values (``--by iso3 --by year --top 20``: 20 countries,
        every decade). The ratios still compare with every other sentence of the input.
    themes : sequence of str, default=None
        Themes to draw over time [default: the four whose primary share varies most]. Needs a
        time column among ``by``.
    doc_column : str, default="doc_id"
        The column naming each sentence's document: the unit the bootstrap resamples.
    out_dir : str or Path, default=None
        Write the tables, pictures and ``profile.md`` here (see :meth:`Profile.write`).
    format : {"csv", "parquet"}, default="csv"
        The tables' format when writing.
    n_boot : int, default=1000
        Bootstrap replicates (0: no intervals).
    seed : int, default=0
        Seed of the bootstrap's random numbers: the same seed gives the same intervals.

    Returns
    -------
    Profile

    Raises
    ------
    DataError
        If a file is missing, empty or malformed, lacks a column, a year cannot be binned, a
        theme is unknown or an option is invalid.

    Examples
    --------
    >>> result = profile("predicted.parquet", by=["iso3", "year"],
    ...                  bins={"year": "decade"}, top=20)               # doctest: +SKIP
    >>> result.wide("primary_share").round(3)                           # doctest: +SKIP
    """
    by, bins = _check_options(by, bins, top, n_boot, format, doc_column)
    paths = _input_paths(predictions)
    counts = _read_counts(paths, doc_column, by)
    counts = _binned(counts, bins)
    time = _time_column(counts.by, bins)
    line_themes = _line_themes_check(themes, counts.themes, time)
    result = _build_profile(counts, time=time, top=top, line_themes=line_themes,
                            n_boot=n_boot, seed=seed)
    result.sources = [str(p) for p in paths]
    if out_dir is not None:
        result.write(out_dir, format=format)
    return result


def _check_options(by, bins, top, n_boot, fmt, doc_column) -> tuple[list[str], dict[str, str]]:
    """The options, checked before anything is read."""
    by = [str(c) for c in ([by] if isinstance(by, str) else list(by or []))]
    if not by:
        raise DataError("give at least one column to group by (--by COLUMN)")
    twice = sorted({c for c in by if by.count(c) > 1})
    if twice:
        raise DataError(f"--by names {twice[0]!r} twice")
    bins = _resolve_bins(bins, by)
    for column, kind in bins.items():
        if column not in by:
            raise DataError(f"cannot bin {column!r}: it is not one of the --by columns "
                            f"({', '.join(by)})")
        if kind not in BINS:
            raise DataError(f"unknown bin {kind!r} for {column!r} (use one of "
                            f"{', '.join(BINS)})")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise DataError(f"top must be a whole number of groups ≥ 1, got {top!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise DataError(f"n_boot must be a whole number ≥ 0, got {n_boot!r}")
    if fmt not in TABLE_FORMATS:
        raise DataError(f"the tables' format must be csv or parquet, got {fmt!r}")
    if doc_column in by:
        raise DataError(f"{doc_column!r} names the documents; it cannot also be a --by column")
    names = [bins.get(c, c) for c in by]
    clash = sorted({c for c in names if names.count(c) > 1})
    if clash:
        raise DataError(f"binning makes a second {clash[0]!r} column; group by one of them")
    return by, bins


def _resolve_bins(bins, by: list[str]) -> dict[str, str]:
    """``bins`` as ``{column: kind}``: a mapping as it is; ``"decade"`` for the --by column
    named like time (year, date, ...); ``"year=decade"``."""
    if bins is None or isinstance(bins, Mapping):
        return dict(bins or {})
    column, sep, kind = str(bins).rpartition("=")
    if sep:
        return {column.strip(): kind.strip()}
    kind = kind.strip()
    if kind not in BINS:
        raise DataError(f"unknown bin {kind!r} (use one of {', '.join(BINS)})")
    timely = [c for c in by if c.lower() in TIME_NAMES]
    if not timely:
        raise DataError(f"--bin {kind} needs a year column among --by ({', '.join(by)}); "
                        f"name it: --bin COLUMN={kind}")
    return {timely[0]: kind}


def _time_column(names: list[str], bins: Mapping[str, str]) -> str | None:
    """The column read as time: a binned one, else the first named like time."""
    binned = [bins[c] for c in bins]
    for name in names:
        if name in binned:
            return name
    for name in names:
        if name.lower() in TIME_NAMES:
            return name
    return None


def _line_themes_check(themes, known: list[str], time: str | None) -> list[str] | None:
    """The themes asked for, checked against those of the predictions (None: not asked)."""
    if themes is None:
        return None
    themes = [t.strip() for t in ([themes] if isinstance(themes, str) else themes) if t.strip()]
    unknown = [t for t in themes if t not in known]
    if unknown:
        raise DataError(f"unknown theme {unknown[0]!r} (themes in the predictions: "
                        f"{', '.join(sorted(known))})")
    if time is None:
        raise DataError("themes are drawn over time: add a time column to --by (year, "
                        "decade, date, period or month), binned with --bin decade if you like")
    return themes


# ---------------------------------------------------------------------------------------------
# reading: per (document, group) counts, a chunk at a time


class _Codes:
    """Integer codes of the values of a column, kept across chunks (missing values are one
    value, :data:`MISSING`)."""

    def __init__(self):
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value) -> int:
        """The code of one value, given one if new."""
        label = MISSING if value is None else str(value)
        found = self.index.get(label)
        if found is None:
            found = self.index[label] = len(self.values)
            self.values.append(label)
        return found

    def encode(self, array) -> np.ndarray:
        """The codes of an Arrow array: each distinct value is looked up once."""
        import pyarrow.compute as pc

        if hasattr(array, "combine_chunks"):  # one dictionary for the whole column
            array = array.combine_chunks()
        encoded = pc.dictionary_encode(array, null_encoding="encode")
        table = np.array([self.code(v) for v in encoded.dictionary.to_pylist()], dtype=np.int64)
        if not len(table):
            return np.zeros(0, dtype=np.int64)
        return table[encoded.indices.to_numpy(zero_copy_only=False)]


@dataclass
class _Counts:
    """Sentence counts per unit (a document within a group): the table everything is made of.

    ``docs`` holds each unit's document code and ``keys`` one column per ``by`` column (their
    codes); ``n`` counts sentences,
    ``primary`` and ``member`` (units × themes) the sentences with each primary theme and
    whose theme set holds each theme.
    """

    by: list[str]
    values: list[list[str]]  # per by column, the value of each code
    themes: list[str]
    docs: np.ndarray
    keys: np.ndarray
    n: np.ndarray
    primary: np.ndarray
    member: np.ndarray
    sentences: int
    documents: int


def _input_paths(predictions) -> list[Path]:
    """The files to read: the paths given, a folder's Parquet parts in order."""
    given = [predictions] if isinstance(predictions, (str, Path)) else list(predictions)
    if not given:
        raise DataError("give the predictions to profile (a file written by predict)")
    paths: list[Path] = []
    for item in map(Path, given):
        if item.is_dir():
            parts = sorted(p for p in item.iterdir() if p.suffix.lower() in (".parquet", ".pq"))
            if not parts:
                raise DataError(f"{item}: a folder without Parquet parts")
            paths.extend(parts)
        elif not item.is_file():
            raise DataError(f"{item}: no such file")
        else:
            file_format(item)  # an unknown extension is refused now
            paths.append(item)
    return paths


def _read_counts(paths: list[Path], doc_column: str, by: list[str]) -> _Counts:
    """Read every file a chunk at a time into per-unit counts."""
    docs, groups = _Codes(), [_Codes() for _ in by]
    themes = _Codes()
    parts: list[tuple] = []
    sentences = 0
    for path in paths:
        rows = 0
        for batch in _iter_batches(path, doc_column, by):
            if batch.num_rows:
                rows += batch.num_rows
                parts.append(_count_batch(batch, path, docs, groups, themes))
        if not rows:
            raise DataError(f"{path}: the table has no rows")
        sentences += rows
    width = len(themes.values)
    keys = np.concatenate([p[0] for p in parts])
    n = np.concatenate([p[1] for p in parts])
    primary = np.concatenate([_padded(p[2], width) for p in parts])
    member = np.concatenate([_padded(p[3], width) for p in parts])
    keys, sums = _merge_units(keys, np.column_stack([n, primary, member]))
    return _Counts(by=list(by), values=[g.values for g in groups], themes=themes.values,
                   docs=keys[:, 0], keys=keys[:, 1:], n=sums[:, 0], primary=sums[:, 1:1 + width],
                   member=sums[:, 1 + width:], sentences=sentences,
                   documents=len(docs.values))


def _padded(matrix: np.ndarray, width: int) -> np.ndarray:
    """A chunk's counts widened to every theme seen (themes seen later add columns)."""
    return np.pad(matrix, ((0, 0), (0, width - matrix.shape[1])))


def _iter_batches(path: Path, doc_column: str, by: list[str]) -> Iterator:
    """Arrow tables of the columns needed, renamed doc, by..., primary, themes."""
    fmt = file_format(path)
    if fmt == "txt":
        raise DataError(f"{path}: a .txt file is a document; profile the table predict wrote")
    if fmt == "parquet":
        yield from _parquet_batches(path, doc_column, by)
        return
    import pyarrow as pa

    from .data import iter_table

    chosen = None
    for chunk in iter_table(path, chunksize=_BATCH_ROWS):
        if chosen is None:
            chosen = _needed_columns(list(chunk.columns), doc_column, by, path)
        yield pa.Table.from_pandas(chunk[chosen], preserve_index=False)


def _parquet_batches(path: Path, doc_column: str, by: list[str]) -> Iterator:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
        chosen = _needed_columns(parquet.schema_arrow.names, doc_column, by, path)
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=chosen):
            yield pa.Table.from_batches([batch])
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def _needed_columns(columns: list[str], doc_column: str, by: list[str], path: Path
                    ) -> list[str]:
    """The input's names of the doc, by, primary and themes columns, in that order."""
    prediction = [MODEL_PREFIX + c if MODEL_PREFIX + c in columns else c
                  for c in (PRIMARY, THEMES)]
    predicted = [c for c in by if c in prediction]
    if predicted:
        raise DataError(f"cannot group by {predicted[0]!r}: it holds the predicted themes "
                        "that the profile counts")
    for column in [doc_column, *by, *prediction]:
        if column not in columns:
            have = ", ".join(map(str, columns)) or "none"
            hint = ""
            if column in by:
                hint = ("; predict keeps the input's columns: give it a table that has "
                        f"{column!r} (predict -i corpus.csv --documents --out ...)")
            elif column == doc_column:
                hint = "; name the document column with --doc-column"
            raise DataError(f"{path}: no '{column}' column (columns: {have}){hint}")
    return [doc_column, *by, *prediction]


def _count_batch(batch, path: Path, docs: _Codes, groups: list[_Codes], themes: _Codes
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One chunk's units (their doc and group codes) and per-unit sentence counts."""
    columns = batch.columns
    keys = np.column_stack([docs.encode(columns[0]),
                            *(codes.encode(col) for codes, col in zip(groups, columns[1:-2]))])
    unit, unit_keys = _factorize_rows(keys)
    primary = _primary_codes(columns[-2], themes, path)
    rows, members = _member_codes(columns[-1], themes)
    size, width = len(unit_keys), len(themes.values)
    n = np.bincount(unit, minlength=size)
    primary_counts = np.bincount(unit * width + primary, minlength=size * width)
    member_counts = np.bincount(unit[rows] * width + members, minlength=size * width)
    return (unit_keys, n, primary_counts.reshape(size, width),
            member_counts.reshape(size, width))


def _primary_codes(column, themes: _Codes, path: Path) -> np.ndarray:
    if column.null_count:
        raise DataError(f"{path}: {column.null_count:,} rows have no primary theme")
    import pyarrow.compute as pc

    return themes.encode(pc.utf8_trim_whitespace(column.cast("large_string")))


def _member_codes(column, themes: _Codes) -> tuple[np.ndarray, np.ndarray]:
    """Each theme-set member: the row it is in and its theme code (``;``-joined cells, or
    lists)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if hasattr(column, "combine_chunks"):
        column = column.combine_chunks()
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        column = pc.split_pattern(column.cast(pa.large_string()), THEME_SEP)
    rows = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    values = pc.utf8_trim_whitespace(pc.list_flatten(column).cast(pa.large_string()))
    keep = pc.and_(pc.is_valid(values), pc.not_equal(values, "")).fill_null(False)
    if not pc.all(keep).as_py():
        rows = rows[keep.to_numpy(zero_copy_only=False)]
        values = values.filter(keep)
    return rows.astype(np.int64), themes.encode(values)


def _factorize_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct rows of an integer matrix: each row's number and the rows."""
    combined = keys[:, 0]
    for j in range(1, keys.shape[1]):
        combined, _ = pd.factorize(combined * (int(keys[:, j].max()) + 1) + keys[:, j])
        combined = combined.astype(np.int64)
    number, _ = pd.factorize(combined)
    first = np.full(number.max() + 1 if len(number) else 0, -1, dtype=np.int64)
    first[number[::-1]] = np.arange(len(number))[::-1]
    return number.astype(np.int64), keys[first]


def _merge_units(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows of ``values`` whose ``keys`` rows are equal."""
    number, unique = _factorize_rows(keys)
    return unique, _sum_by(number, values, len(unique))


def _sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Row sums of ``values`` by ``index`` (0 .. size-1), as a (size, columns) matrix."""
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
    out = np.zeros((size, values.shape[1]), dtype=values.dtype)
    if len(index):
        out[sorted_index[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out


# ---------------------------------------------------------------------------------------------
# derived groups


def _binned(counts: _Counts, bins: Mapping[str, str]) -> _Counts:
    """Replace each binned column's values by their bin (``1946`` -> ``1940s``); a document's
    units of one bin become one."""
    if not bins:
        return counts
    keys = counts.keys.copy()
    values = list(counts.values)
    for column, kind in bins.items():
        j = counts.by.index(column)
        labels = np.array([_bin_label(v, column, kind) for v in values[j]], dtype=str)
        uniques, codes = np.unique(labels, return_inverse=True)
        keys[:, j] = codes.ravel()[keys[:, j]]
        values[j] = [str(u) for u in uniques]
    width = len(counts.themes)
    merged, sums = _merge_units(np.column_stack([counts.docs, keys]),
                                np.column_stack([counts.n, counts.primary, counts.member]))
    return _Counts(by=[bins.get(c, c) for c in counts.by], values=values,
                   themes=counts.themes, docs=merged[:, 0], keys=merged[:, 1:],
                   n=sums[:, 0], primary=sums[:, 1:1 + width], member=sums[:, 1 + width:],
                   sentences=counts.sentences, documents=counts.documents)


_YEAR = re.compile(r"^\s*(-?\d{1,4})(?:\.0*)?\s*$")
_DATE = re.compile(r"^\s*(\d{4})[-/.]\d")


def _bin_label(value: str, column: str, kind: str) -> str:
    """The bin of one value: ``1946`` or ``1946-09-21`` -> ``1940s``."""
    if value == MISSING:
        return MISSING
    match = _YEAR.match(value) or _DATE.match(value)
    if match is None:
        raise DataError(f"cannot bin {column!r} by {kind}: {value!r} is not a year")
    width = BINS[kind]
    return f"{int(match.group(1)) // width * width}s"


# ---------------------------------------------------------------------------------------------
# the tables


def _build_profile(counts: _Counts, *, time: str | None, top: int | None,
                   line_themes: list[str] | None, n_boot: int, seed: int) -> Profile:
    """Every table of the profile, from the per-unit counts."""
    counts = _themes_ordered(counts)
    units = _unit_matrix(counts)
    others = [c for c in counts.by if c != time]
    chosen = others or counts.by
    kept_units, total_groups = _top_units(counts, chosen, top, units[:, 0])
    table = _ShareTable(units, counts.themes, n_boot, seed)
    shares = table.frame(*_grouping(counts, counts.by), kept_units)
    over_time = across_time = None
    if time is not None and others:
        over_time = table.frame(*_grouping(counts, [time]), np.ones(len(units), dtype=bool))
        across_time = table.frame(*_grouping(counts, others), kept_units)
    elif time is not None:
        over_time = shares
    groups = (shares.drop_duplicates(subset=counts.by)[[*counts.by, "sentences", "documents"]]
              .reset_index(drop=True))
    result = Profile(by=counts.by, time=time, themes=counts.themes, shares=shares,
                     groups=groups, standouts=_standouts(shares, counts.by, n_boot),
                     over_time=over_time, across_time=across_time, overall=_overall(counts),
                     line_themes=[], sentences=counts.sentences, documents=counts.documents,
                     total_groups=total_groups, top=top, sources=[], n_boot=n_boot)
    result.line_themes = line_themes if line_themes is not None else _varying_themes(result)
    return result


def _themes_ordered(counts: _Counts) -> _Counts:
    """The themes, most frequent primary theme first and ``none`` last."""
    totals = counts.primary.sum(axis=0)
    order = sorted(range(len(counts.themes)),
                   key=lambda j: (counts.themes[j] == NO_THEME, -totals[j], counts.themes[j]))
    return _Counts(by=counts.by, values=counts.values,
                   themes=[counts.themes[j] for j in order], docs=counts.docs, keys=counts.keys,
                   n=counts.n, primary=counts.primary[:, order], member=counts.member[:, order],
                   sentences=counts.sentences, documents=counts.documents)


def _unit_matrix(counts: _Counts) -> np.ndarray:
    """Per unit: sentences, primary counts, member counts, 1 (a document), then the unit's
    primary and member shares; group sums of these give every share and its replicates."""
    n = counts.n.astype(float)[:, None]
    return np.column_stack([n, counts.primary, counts.member, np.ones_like(n),
                            counts.primary / n, counts.member / n]).astype(float)


def _grouping(counts: _Counts, columns: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Each unit's group by ``columns`` (groups in natural order) and the groups' labels."""
    positions = [counts.by.index(c) for c in columns]
    number, unique = _factorize_rows(counts.keys[:, positions])
    values = {c: [counts.values[p][code] for code in unique[:, i]]
              for i, (c, p) in enumerate(zip(columns, positions))}
    rows = list(zip(*values.values()))
    order = sorted(range(len(rows)), key=lambda g: tuple(map(_natural_key, rows[g])))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    labels = pd.DataFrame({c: [v[g] for g in order] for c, v in values.items()})
    return rank[number], labels


def _natural_key(value: str) -> tuple:
    """Sort numbers as numbers (``1990s`` before ``2000s``, ``9`` before ``10``), missing last."""
    if value == MISSING:
        return (2, 0.0, value)
    match = re.match(r"-?\d+(\.\d+)?", value)
    return (0, float(match.group(0)), value) if match else (1, 0.0, value)


def _top_units(counts: _Counts, columns: list[str], top: int | None, sentences: np.ndarray
               ) -> tuple[np.ndarray, int]:
    """Which units belong to the ``top`` groups by ``columns`` with the most sentences, and
    how many such groups there are."""
    group, labels = _grouping(counts, columns)
    if top is None or top >= len(labels):
        return np.ones(len(group), dtype=bool), len(labels)
    size = np.bincount(group, weights=sentences, minlength=len(labels))
    largest = np.argsort(-size, kind="stable")[:top]
    return np.isin(group, largest), len(labels)


class _ShareTable:
    """Makes the long tables of shares, intervals and ratios of a grouping of the units."""

    def __init__(self, units: np.ndarray, themes: list[str], n_boot: int, seed: int):
        self.units = units
        self.themes = themes
        self.n_boot = n_boot
        self.seed = seed

    def frame(self, group: np.ndarray, labels: pd.DataFrame, kept_units: np.ndarray
              ) -> pd.DataFrame:
        """One row per kept group and theme (see :attr:`Profile.shares`)."""
        size, width = len(labels), len(self.themes)
        sums = _sum_by(group, self.units, size)
        keep = np.zeros(size, dtype=bool)
        keep[group[kept_units]] = True
        point = _statistics(sums, self.units.sum(axis=0), width)
        bounds = _bootstrap(self.units, group, size, keep, width, n_boot=self.n_boot,
                            seed=self.seed)
        rows = np.flatnonzero(keep)
        columns = {c: np.repeat(labels[c].to_numpy(dtype=object)[rows], width)
                   for c in labels.columns}
        columns["theme"] = np.tile(np.array(self.themes, dtype=object), len(rows))
        columns["sentences"] = np.repeat(sums[rows, 0], width).astype(np.int64)
        columns["documents"] = np.repeat(sums[rows, 1 + 2 * width], width).astype(np.int64)
        for name in _MEASURES:
            if name in ("primary", "set"):
                offset = 1 if name == "primary" else 1 + width
                columns[f"{name}_n"] = sums[rows, offset:offset + width].ravel().astype(np.int64)
            _add_with_interval(columns, f"{name}_share", point[name], bounds.get(name), rows)
        columns["rest_share"] = point["rest"][rows].ravel()
        _add_with_interval(columns, "ratio", point["ratio"], bounds.get("ratio"), rows)
        return pd.DataFrame(columns)


def _add_with_interval(columns: dict, name: str, values: np.ndarray, bounds, rows) -> None:
    stem = name.removesuffix("_share")
    columns[name] = values[rows].ravel()
    low, high = bounds if bounds is not None else (np.full_like(values, np.nan),) * 2
    columns[f"{stem}_low"] = low[rows].ravel()
    columns[f"{stem}_high"] = high[rows].ravel()


def _statistics(sums: np.ndarray, totals: np.ndarray, width: int) -> dict[str, np.ndarray]:
    """Shares and ratios from group sums of the unit matrix (any leading shape: groups, or
    replicates × groups); ``totals`` are the sums over every unit, broadcast against them."""
    n = sums[..., :1]
    primary = sums[..., 1:1 + width]
    member = sums[..., 1 + width:1 + 2 * width]
    docs = sums[..., 1 + 2 * width:2 + 2 * width]
    doc_primary = sums[..., 2 + 2 * width:2 + 3 * width]
    doc_member = sums[..., 2 + 3 * width:]
    with np.errstate(divide="ignore", invalid="ignore"):
        primary_share = primary / n
        rest = (totals[..., 1:1 + width] - primary) / (totals[..., :1] - n)
        return {"primary": primary_share, "set": member / n, "doc_primary": doc_primary / docs,
                "doc_set": doc_member / docs, "rest": rest, "ratio": primary_share / rest}


def _overall(counts: _Counts) -> pd.DataFrame:
    """Every sentence of the input: each theme's count and share, primary and in the set."""
    total = max(int(counts.n.sum()), 1)
    primary, member = counts.primary.sum(axis=0), counts.member.sum(axis=0)
    return pd.DataFrame({"theme": counts.themes, "primary_n": primary.astype(np.int64),
                         "primary_share": primary / total, "set_n": member.astype(np.int64),
                         "set_share": member / total})


# ---------------------------------------------------------------------------------------------
# the bootstrap: documents resampled within each group


def _bootstrap(units: np.ndarray, group: np.ndarray, size: int, keep: np.ndarray, width: int,
               *, n_boot: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Percentile intervals (95 %) of every statistic of :func:`_statistics` for the kept
    groups, NaN for a group of one document.

    Each replicate draws, for every group, as many of its documents as it has, with
    replacement. The ratios need each replicate's totals before any group's statistics, so
    the groups are gone through twice: the draws of the first pass are kept for the second
    when they are small (``_KEPT_WEIGHTS``), else drawn again, each chunk of groups with a
    generator seeded by ``seed`` and the chunk's number. Sums are float32: exact for counts
    below 2**24, and the intervals do not need more.
    """
    if n_boot == 0 or not keep.any():
        return {}
    with _one_blas_thread():  # small products: BLAS threads only wait for one another
        return _bootstrap_bounds(units, group, size, keep, width, n_boot=n_boot, seed=seed)


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _bootstrap_bounds(units: np.ndarray, group: np.ndarray, size: int, keep: np.ndarray,
                      width: int, *, n_boot: int, seed: int
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`_bootstrap`'s work."""
    order = np.argsort(group, kind="stable")
    units = units[order].astype(np.float32)
    starts = np.searchsorted(group[order], np.arange(size + 1))
    sizes = np.diff(starts)
    chunks = _boot_chunks(sizes, n_boot, units.shape[1])
    # the weights of pass one are kept for pass two when they are small, else drawn again
    keep_weights = n_boot * len(units) <= _KEPT_WEIGHTS
    kept: list[np.ndarray] = []
    totals = np.zeros((n_boot, units.shape[1]), dtype=np.float32)
    for number, (first, last) in enumerate(chunks):
        weights = _weights(seed, number, sizes[first:last], n_boot)
        totals += weights @ units[starts[first]:starts[last]]
        if keep_weights:
            kept.append(weights)
    bounds = {name: (np.full((size, width), np.nan), np.full((size, width), np.nan))
              for name in (*_MEASURES, "ratio")}
    for number, (first, last) in enumerate(chunks):
        wanted = np.flatnonzero(keep[first:last] & (sizes[first:last] > 1))
        if not len(wanted):
            continue
        weights = kept[number] if keep_weights else _weights(seed, number, sizes[first:last],
                                                              n_boot)
        sums = _replicate_sums(weights, units[starts[first]:starts[last]], sizes[first:last],
                               wanted)
        stats = _statistics(sums, totals[:, None, :], width)
        for name, (low, high) in bounds.items():
            low[first + wanted], high[first + wanted] = _percentiles(stats[name])
    return bounds


def _boot_chunks(sizes: np.ndarray, n_boot: int, columns: int) -> list[tuple[int, int]]:
    """Runs of groups ``(first, last)`` whose replicate sums and weights fit the budget."""
    max_groups = max(1, _BOOT_CELLS // (n_boot * columns))
    max_units = max(1, _BOOT_CELLS // n_boot)
    chunks, first, units = [], 0, 0
    for g, count in enumerate(sizes):
        if g > first and (g - first >= max_groups or units + count > max_units):
            chunks.append((first, g))
            first, units = g, 0
        units += int(count)
    if len(sizes):
        chunks.append((first, len(sizes)))
    return chunks


def _weights(seed: int, number: int, sizes: np.ndarray, n_boot: int) -> np.ndarray:
    """How many times each unit of a chunk is drawn in each replicate (n_boot × units): each
    group's units are drawn as many times as it has units, uniformly with replacement."""
    rng = np.random.default_rng([seed, number])
    count = int(sizes.sum())
    owner_size = np.repeat(sizes, sizes).astype(np.float32)
    draws = (rng.random((n_boot, count), dtype=np.float32) * owner_size).astype(np.int64)
    np.minimum(draws, (owner_size - 1).astype(np.int64), out=draws)  # float32 may round up
    draws += np.repeat(np.cumsum(sizes) - sizes, sizes)
    draws += (np.arange(n_boot) * count)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n_boot * count)
    return counts.reshape(n_boot, count).astype(np.float32)


def _replicate_sums(weights: np.ndarray, units: np.ndarray, sizes: np.ndarray,
                    wanted: np.ndarray) -> np.ndarray:
    """Each wanted group's weighted sums of its units, per replicate (n_boot × wanted × K)."""
    starts = np.cumsum(sizes) - sizes
    sums = np.empty((weights.shape[0], len(wanted), units.shape[1]), dtype=np.float32)
    for j, g in enumerate(wanted):
        first, last = starts[g], starts[g] + sizes[g]
        # into a new array, then copied: a product written to a strided slice skips BLAS
        sums[:, j, :] = weights[:, first:last] @ units[first:last]
    return sums


def _percentiles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5th and 97.5th percentiles over the replicates (the first axis), interpolated
    as numpy's default does; NaN replicates (a share of no sentences) are left out."""
    flat = np.sort(np.ascontiguousarray(values.reshape(values.shape[0], -1).T), axis=1)
    valid = (~np.isnan(flat)).sum(axis=1)  # NaN sort last
    rows = np.arange(len(flat))
    bounds = []
    for tail in ((1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2):
        position = tail * np.maximum(valid - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(valid - 1, 0))
        fraction = position - below
        value = flat[rows, below] * (1 - fraction) + flat[rows, above] * fraction
        value[valid == 0] = np.nan
        bounds.append(value.reshape(values.shape[1:]))
    return bounds[0], bounds[1]


# ---------------------------------------------------------------------------------------------
# standouts and themes over time


def _standouts(shares: pd.DataFrame, by: list[str], n_boot: int) -> pd.DataFrame:
    """Per theme (not ``none``), the groups of two documents or more whose primary share
    stands out most against the rest: ranked by the low end of the ratio's interval (by the
    ratio without intervals), which must be above 1."""
    key = "ratio_low" if n_boot else "ratio"
    candidates = shares[(shares["theme"] != NO_THEME) & (shares["documents"] >= 2)
                        & (shares[key] > 1)]
    ranked = candidates.sort_values(["theme", key], ascending=[True, False], kind="stable")
    best = ranked.groupby("theme", sort=False).head(STANDOUTS_PER_THEME).copy()
    best.insert(1, "rank", best.groupby("theme").cumcount() + 1)
    columns = ["theme", "rank", *by, "sentences", "documents", "primary_n", "primary_share",
               "rest_share", "ratio", "ratio_low", "ratio_high"]
    best = best[columns]
    theme_order = {t: i for i, t in enumerate(shares["theme"].drop_duplicates())}
    best = best.sort_values(["theme", "rank"], key=lambda s: s.map(theme_order)
                            if s.name == "theme" else s, kind="stable")
    return best.reset_index(drop=True)


def _varying_themes(result: Profile) -> list[str]:
    """The themes (not ``none``) whose primary share varies most over time."""
    if result.over_time is None:
        return []
    wide = result.wide("primary_share", table="over_time")
    wide = wide[[t for t in wide.columns if t != NO_THEME]]
    wide = wide[[MISSING not in (i if isinstance(i, tuple) else (i,)) for i in wide.index]]
    if wide.empty:
        return []
    spread = (wide.max() - wide.min()).sort_values(ascending=False, kind="stable")
    return list(spread.index[:LINE_THEMES])


# ---------------------------------------------------------------------------------------------
# words: the summary and profile.md


def _label(row, columns: Sequence[str]) -> str:
    """A group's name: its values joined by `` · ``."""
    return " · ".join(str(row[c]) for c in columns)


def _pct(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{100 * value:.1f} %" if value >= 0.001 or value == 0 else f"{100 * value:.2f} %"


def _times(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1f}×"


def _ratio_text(row) -> str:
    interval = ""
    if math.isfinite(row["ratio_low"]) and math.isfinite(row["ratio_high"]):
        interval = f" (95 % CI {row['ratio_low']:.1f}–{row['ratio_high']:.1f}×)"
    return f"{_times(row['ratio'])} the share in the rest of the input{interval}"


def _summary(result: Profile) -> list[str]:
    """Sentences on the input, the main themes, the standouts and the changes over time."""
    lines = [_scope_sentence(result), _themes_sentence(result)]
    lines.extend(_standout_sentences(result))
    lines.extend(_trend_sentences(result))
    return [line for line in lines if line]


def _scope_sentence(result: Profile) -> str:
    shape = " × ".join(result.by)
    text = (f"{result.sentences:,} sentences in {result.documents:,} documents, "
            f"{len(result.groups):,} groups by {shape}")
    if result.top is not None and result.top < result.total_groups:
        kind = " × ".join(result.group_columns or result.by)
        text += (f": the {result.top:,} {kind} with the most sentences, of "
                 f"{result.total_groups:,}")
        if result.time is not None and result.group_columns:
            text += f", in every {result.time}"
    return text + "."


def _themes_sentence(result: Profile) -> str:
    overall = result.overall
    themed = overall[overall["theme"] != NO_THEME].head(3)
    if themed.empty:
        return "No sentence has a theme."
    parts = [f"`{r.theme}` ({_pct(r.primary_share)})" for r in themed.itertuples()]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    text = f"The most frequent primary themes are {listed}"
    none = overall[overall["theme"] == NO_THEME]
    if len(none):
        text += f"; {_pct(float(none['primary_share'].iloc[0]))} of sentences have none"
    return text + "."


def _standout_sentences(result: Profile, count: int = 3) -> list[str]:
    """The groups that stand out most, whatever the theme (one per theme)."""
    best = result.standouts[result.standouts["rank"] == 1]
    if best.empty:
        return ["No group stands out for any theme against the rest of the input."]
    key = "ratio_low" if result.n_boot else "ratio"
    lines = []
    for _, row in best.sort_values(key, ascending=False, kind="stable").head(count).iterrows():
        lines.append(f"**{_label(row, result.by)}** stands out for `{row['theme']}`: "
                     f"{_pct(row['primary_share'])} of its {row['sentences']:,} sentences, "
                     f"{_ratio_text(row)}.")
    return lines


def _trend_sentences(result: Profile) -> list[str]:
    """For each theme drawn over time: its share at the first and last time, and its peak."""
    if result.over_time is None or not result.line_themes:
        return []
    wide = result.wide("primary_share", table="over_time")
    wide.index = [str(i[0] if isinstance(i, tuple) else i) for i in wide.index]
    wide = wide[[i != MISSING for i in wide.index]]
    if len(wide) < 2:
        return []
    lines = []
    for theme in result.line_themes:
        values = wide[theme]
        first, last, peak = values.index[0], values.index[-1], values.idxmax()
        start, end = _pct(values.iloc[0]), _pct(values.iloc[-1])
        if start == end:
            text = (f"`{theme}` was {start} of sentences in {_when(first)} and again in "
                    f"{_when(last)}")
        else:
            verb = "rose" if values.iloc[-1] > values.iloc[0] else "fell"
            text = (f"`{theme}` {verb} from {start} of sentences in {_when(first)} to {end} "
                    f"in {_when(last)}")
        if peak not in (first, last):
            text += f", with a peak of {_pct(values[peak])} in {_when(peak)}"
        lines.append(text + ".")
    return lines


def _when(label: str) -> str:
    """``1990s`` -> ``the 1990s``; other times as they are."""
    return f"the {label}" if re.fullmatch(r"\d+s", label) else label


_HOW_TO_READ = """\
- **primary share**: the share of a group's sentences whose primary (most probable) theme is
  the theme; the shares of a group add up to 100 % over the themes and `none`.
- **set share**: the share of its sentences whose theme set (every theme over its threshold)
  holds the theme; a sentence can count for several themes.
- **per-document share** (`doc_` columns): the mean over the group's documents of each
  document's share, so that long documents do not weigh more than short ones.
- **intervals**: 95 % percentile bootstrap intervals, {n_boot:,} replicates that resample the
  documents of each group with replacement; none for a group of one document.
- **ratio**: the group's primary share over the primary share of every other sentence of the
  input (2.0× means twice as frequent as elsewhere). A group stands out when the low end of
  the ratio's interval is above 1; the standouts are ranked by that low end, so that a large
  ratio from a handful of sentences does not come first.
"""


def _markdown(result: Profile, figures: Mapping[str, str]) -> str:
    """The text of ``profile.md``."""
    title = " × ".join(result.by)
    parts = [f"# Theme profile by {title}",
             "\n".join(f"- {line}" for line in result.summary()),
             _sources_line(result)]
    if "heatmap" in figures:
        parts.append(f"## Groups × themes\n\n![Primary theme shares of the groups]"
                     f"({figures['heatmap']})\n\n{_heatmap_caption(result)}")
    if "over_time" in figures:
        parts.append(f"## Over time\n\n![Primary theme shares over time]"
                     f"({figures['over_time']})")
    if "standouts" in figures:
        parts.append(f"## What stands out\n\n![The group that stands out most for each theme]"
                     f"({figures['standouts']})")
    parts.append(_standouts_markdown(result))
    parts.append(_groups_markdown(result))
    parts.append("## How to read this\n\n" + _HOW_TO_READ.format(n_boot=result.n_boot))
    if result.files:
        listed = "\n".join(f"- `{path.name}`" for key, path in result.files.items()
                           if key != "markdown")
        parts.append(f"## Files\n\n{listed}")
    return "\n\n".join(p for p in parts if p) + "\n"


def _sources_line(result: Profile) -> str:
    names = ", ".join(f"`{Path(s).name}`" for s in result.sources[:5])
    more = f" and {len(result.sources) - 5} more" if len(result.sources) > 5 else ""
    return f"Predictions read: {names}{more}." if names else ""


def _heatmap_rows(result: Profile) -> tuple[pd.DataFrame, int]:
    """The heat map's rows (one row of the table per group) and the number of groups: the
    groups with the most sentences, or every time in order (up to ``TIME_ROWS``)."""
    keys = _heatmap_keys(result)
    groups = _heatmap_table(result).drop_duplicates(subset=keys)
    if keys == [result.time]:
        return groups.head(TIME_ROWS), len(groups)
    return groups.nlargest(HEATMAP_ROWS, "sentences", keep="first"), len(groups)


def _heatmap_caption(result: Profile) -> str:
    shown, total = _heatmap_rows(result)
    if len(shown) == total:
        rows = f"all {total:,} groups"
    elif _heatmap_keys(result) == [result.time]:
        rows = f"the first {len(shown)} of {total:,} times"
    else:
        rows = f"the {len(shown)} with the most sentences of {total:,} groups"
    together = f" (all {result.time}s together)" if result.across_time is not None else ""
    return (f"Rows: {rows}{together}, with their number of sentences; columns: the themes, "
            "most frequent first (`none` left out). Each cell: the share of the row's "
            "sentences with that primary theme, and their number.")


def _standouts_markdown(result: Profile) -> str:
    best = result.standouts[result.standouts["rank"] == 1]
    if best.empty:
        return ""
    lines = ["| theme | group | share | rest | ratio (95 % CI) | sentences |",
             "|---|---|---:|---:|---:|---:|"]
    for _, row in best.iterrows():
        interval = (f" ({row['ratio_low']:.1f}–{row['ratio_high']:.1f})"
                    if math.isfinite(row["ratio_low"]) else "")
        lines.append(f"| `{row['theme']}` | {_label(row, result.by)} | "
                     f"{_pct(row['primary_share'])} | {_pct(row['rest_share'])} | "
                     f"{_times(row['ratio'])}{interval} | {row['sentences']:,} |")
    return ("The group that stands out most for each theme (every group's ratio is in the "
            "shares table, the first three per theme in the standouts table):\n\n"
            + "\n".join(lines))


def _groups_markdown(result: Profile, count: int = 15) -> str:
    """The largest groups with their three main themes."""
    table = _heatmap_table(result)
    keys = _heatmap_keys(result)
    sizes = table.drop_duplicates(subset=keys).nlargest(count, "sentences")
    lines = ["| group | sentences | documents | main primary themes (95 % CI) |",
             "|---|---:|---:|---|"]
    for _, group in sizes.iterrows():
        rows = table[(table[keys] == group[keys]).all(axis=1) & (table["theme"] != NO_THEME)]
        main = rows.nlargest(3, "primary_share")
        themes = "; ".join(f"`{r['theme']}` {_pct(r['primary_share'])}"
                           + (f" ({_pct(r['primary_low'])}–{_pct(r['primary_high'])})"
                              if math.isfinite(r["primary_low"]) else "")
                           for _, r in main.iterrows())
        lines.append(f"| {_label(group, keys)} | {group['sentences']:,} | "
                     f"{group['documents']:,} | {themes} |")
    what = f", all {result.time}s together" if result.across_time is not None else ""
    return f"## Largest groups\n\nThe {len(sizes)} groups with the most sentences{what}:\n\n" \
        + "\n".join(lines)


def _heatmap_table(result: Profile) -> pd.DataFrame:
    return result.across_time if result.across_time is not None else result.shares


def _heatmap_keys(result: Profile) -> list[str]:
    return result.group_columns if result.across_time is not None else result.by


# ---------------------------------------------------------------------------------------------
# pictures


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(figure)
    return figure


_DPI = 90


def _readable(theme: str) -> str:
    return theme.replace("_", " ")


def _compact(count: float) -> str:
    """1,234 -> 1.2k, 1,234,567 -> 1.2M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f}{suffix}".replace(".0", "")
    return f"{int(count)}"


def _plot_heatmap(result: Profile, path: Path) -> bool:
    """Groups × themes: each cell the share of the row's sentences with that primary theme
    and their number, coloured by that share against the theme's share in all sentences;
    the rows are the groups with the most sentences."""
    table, keys = _heatmap_table(result), _heatmap_keys(result)
    themes = [t for t in result.themes if t != NO_THEME]
    groups, _ = _heatmap_rows(result)
    if not themes or groups.empty:
        return False
    cells = table.set_index([*keys, "theme"])
    index = [(*tuple(g), t) for g in groups[keys].itertuples(index=False) for t in themes]
    shares = cells.loc[index, "primary_share"].to_numpy(dtype=float).reshape(-1, len(themes))
    counts = cells.loc[index, "primary_n"].to_numpy().reshape(-1, len(themes))
    overall = result.overall.set_index("theme").loc[themes, "primary_share"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.log2(np.clip(shares / overall, 0.25, 4))
    figure = _figure(3.2 + 0.66 * len(themes), 2.1 + 0.34 * len(groups))
    ax = figure.subplots()
    image = ax.imshow(relative, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    colorbar = figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01, ticks=[-2, -1, 0, 1, 2])
    colorbar.ax.set_yticklabels(["¼× or less", "½×", "1×", "2×", "4× or more"])
    colorbar.set_label("share against the theme's share in all sentences")
    for (i, j), share in np.ndenumerate(shares):
        ax.text(j, i, f"{_short_pct(share)}\n{_compact(counts[i, j])}", ha="center",
                va="center", fontsize=6.5, color="white" if abs(relative[i, j]) > 1.3
                else "black")
    ax.set_xticks(range(len(themes)), labels=[_readable(t) for t in themes], rotation=35,
                  ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(groups)), labels=[
        f"{_label(row, keys)}  (n={row['sentences']:,})" for _, row in groups.iterrows()],
        fontsize=8)
    ax.set_xlabel("primary theme (none left out)")
    ax.set_ylabel(" × ".join(keys))
    together = f", all {result.time}s together" if result.across_time is not None else ""
    ax.set_title(f"Primary theme of the sentences by {' × '.join(keys)}{together}\n"
                 "each cell: the share of the row's sentences with that theme, and their number",
                 fontsize=10)
    figure.tight_layout()
    _save_png(figure, path)
    return True


def _short_pct(share: float) -> str:
    percent = 100 * share
    return f"{percent:.0f}%" if percent >= 9.95 else f"{percent:.1f}%"


def _save_png(figure, path: Path) -> None:
    """Save a figure as a PNG of 256 colours: a third of the bytes, the same to the eye."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    buffer.seek(0)
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
        palette.save(path, format="PNG")


def _time_axis(frame: pd.DataFrame, time: str) -> list[str]:
    values = [v for v in frame[time].drop_duplicates() if v != MISSING]
    return sorted(values, key=_natural_key)


def _plot_lines(result: Profile, path: Path) -> bool:
    """One panel per theme drawn over time: every sentence (with its interval) and the
    groups with the most sentences."""
    over, time = result.over_time, result.time
    if over is None or not result.line_themes:
        return False
    axis = _time_axis(over, time)
    if len(axis) < 2:
        return False
    largest = _largest_groups(result, LINE_GROUPS)
    columns = min(len(result.line_themes), 2)
    rows = math.ceil(len(result.line_themes) / columns)
    figure = _figure(6.2 * columns, 3.3 * rows + 1.1)
    panels = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    sizes = over.drop_duplicates(subset=[time]).set_index(time)["sentences"]
    step = math.ceil(len(axis) / 10)  # at most 10 labelled times
    shown = list(range(0, len(axis), step))
    ticks = [f"{axis[i]}\nn={_compact(sizes[axis[i]])}" for i in shown]
    for ax, theme in zip(panels, result.line_themes):
        _draw_theme_over_time(ax, result, theme, axis, largest)
        ax.set_xticks(shown, labels=ticks, fontsize=7)
        ax.set_title(_readable(theme), fontsize=10)
        ax.set_ylabel("primary share (% of sentences)")
        ax.set_xlabel(time)
        ax.grid(alpha=0.3)
    for ax in panels[len(result.line_themes):]:
        ax.set_visible(False)
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8,
                  frameon=False)
    figure.suptitle(f"Primary theme share over time (all: every sentence, with its 95 % "
                    f"interval; n = sentences per {time})", fontsize=11)
    figure.tight_layout(rect=(0, 0.07 if rows == 1 else 0.04, 1, 1))
    _save_png(figure, path)
    return True


def _largest_groups(result: Profile, count: int) -> list[tuple]:
    """The groups (of the columns other than time) with the most sentences."""
    if result.across_time is None:
        return []
    keys = result.group_columns
    groups = result.across_time.drop_duplicates(subset=keys).nlargest(count, "sentences")
    return [tuple(row) for row in groups[keys].itertuples(index=False)]


def _draw_theme_over_time(ax, result: Profile, theme: str, axis: list[str],
                          largest: list[tuple]) -> None:
    positions = {t: i for i, t in enumerate(axis)}
    over = result.over_time[result.over_time["theme"] == theme]
    over = over[over[result.time].isin(positions)]
    x = over[result.time].map(positions).to_numpy()
    ax.fill_between(x, 100 * over["primary_low"], 100 * over["primary_high"], color="black",
                    alpha=0.12, linewidth=0)
    ax.plot(x, 100 * over["primary_share"], color="black", linewidth=2.4, marker="o",
            markersize=3, label="all")
    keys = result.group_columns
    shares = result.shares[result.shares["theme"] == theme]
    for group in largest:
        rows = shares[(shares[keys] == pd.Series(group, index=keys)).all(axis=1)]
        rows = rows[rows[result.time].isin(positions)]
        ax.plot(rows[result.time].map(positions), 100 * rows["primary_share"], linewidth=1.1,
                marker=".", alpha=0.85, label=" · ".join(map(str, group)))
    ax.set_ylim(bottom=0)


def _plot_standouts(result: Profile, path: Path) -> bool:
    """For each theme, the group that stands out most: its ratio with its interval."""
    from matplotlib.ticker import FixedLocator, NullLocator

    best = result.standouts[result.standouts["rank"] == 1]
    if best.empty:
        return False
    best = best.sort_values("ratio", kind="stable")
    figure = _figure(10, 1.8 + 0.42 * len(best))
    ax = figure.subplots()
    y = np.arange(len(best))
    ratio = best["ratio"].to_numpy(dtype=float)
    low = np.nan_to_num(best["ratio_low"].to_numpy(dtype=float), nan=ratio)
    high = np.nan_to_num(best["ratio_high"].to_numpy(dtype=float), nan=ratio)
    ax.errorbar(ratio, y, xerr=[ratio - low, high - ratio], fmt="o", color="tab:blue",
                ecolor="tab:blue", elinewidth=1.6, capsize=3)
    for i, (_, row) in enumerate(best.iterrows()):
        ax.text(high[i] * 1.05, i, f"{_times(row['ratio'])}  ({_pct(row['primary_share'])} "
                f"against {_pct(row['rest_share'])})", va="center", fontsize=8)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(0.8, float(np.nanmax(high)) * 3.2)
    ticks = [t for t in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
             if t <= np.nanmax(high) * 3.2]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t}×" for t in ticks])
    ax.set_yticks(y, labels=[f"{_readable(r['theme'])}: {_label(r, result.by)} "
                             f"(n={r['sentences']:,})" for _, r in best.iterrows()], fontsize=8)
    ax.set_xlabel("the group's primary share against that of every other sentence (log scale; "
                  "bars: 95 % CI;\ndashed line: as often as elsewhere)")
    ax.set_title("The group that stands out most for each theme", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    _save_png(figure, path)
    return True


# ---------------------------------------------------------------------------------------------
# writing


_TABLES = ("shares", "groups", "standouts", "over_time", "across_time", "overall")
_FIGURES = (("heatmap", _plot_heatmap), ("over_time", _plot_lines),
            ("standouts", _plot_standouts))


def _write_profile(result: Profile, out_dir: Path, fmt: str) -> dict[str, Path]:
    """Write the tables, the pictures and profile.md, each atomically."""
    from .data import AtomicTableWriter, atomic_write_text

    if fmt not in TABLE_FORMATS:
        raise DataError(f"the tables' format must be csv or parquet, got {fmt!r}")
    _make_folder(out_dir)
    files: dict[str, Path] = {}
    for name in _TABLES:
        frame = getattr(result, name)
        if frame is None or (name == "over_time" and frame is result.shares):
            continue
        with AtomicTableWriter(out_dir / f"{name}.{fmt}") as writer:
            writer.write(frame.round(6))
        files[name] = out_dir / f"{name}.{fmt}"
    for name, draw in _FIGURES:
        target = out_dir / f"{name}.png"
        if _draw_atomically(draw, result, target):
            files[f"{name}_png"] = target
    result.files = files
    markdown = out_dir / "profile.md"
    figures = {key.removesuffix("_png"): path.name for key, path in files.items()
               if key.endswith("_png")}
    files["markdown"] = markdown
    atomic_write_text(markdown, result.to_markdown(figures))
    return files


def _draw_atomically(draw, result: Profile, target: Path) -> bool:
    """Draw a picture into a temporary file renamed over ``target`` when complete."""
    from .data import atomic_path

    temporary = atomic_path(target)
    try:
        drawn = draw(result, temporary)
        if drawn:
            os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
    return drawn


def _make_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    if folder.exists():
        raise DataError(f"{folder}: exists and is not a folder; choose another output folder")
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"{folder}: cannot create the output folder, {parent} does not exist")
    try:
        folder.mkdir()
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") \
            from None
