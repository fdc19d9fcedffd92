"""Read predictions a chunk at a time into per-document counts of primary themes and of
theme-set members, by group."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.errors import DataError
from policy_themes.io.formats import file_format
from policy_themes.rules.taxonomy import THEME_SEP

__all__ = ["Counts", "read_counts", "input_paths", "BINS"]


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


BOOT_CELLS = 4_000_000  # replicates × groups × columns of one bootstrap chunk


KEPT_WEIGHTS = 16_000_000  # replicates × documents: weights kept between passes (64 MB)


MEASURES = ("primary", "set", "doc_primary", "doc_set")


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
class Counts:
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


def input_paths(predictions) -> list[Path]:
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


def read_counts(paths: list[Path], doc_column: str, by: list[str]) -> Counts:
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
    return Counts(by=list(by), values=[g.values for g in groups], themes=themes.values,
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

    from policy_themes.io.tables import iter_table

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
    unit, unit_keys = factorize_rows(keys)
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


def factorize_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    number, unique = factorize_rows(keys)
    return unique, sum_by(number, values, len(unique))


def sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Row sums of ``values`` by ``index`` (0 .. size-1), as a (size, columns) matrix."""
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
    out = np.zeros((size, values.shape[1]), dtype=values.dtype)
    if len(index):
        out[sorted_index[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out


def _binned(counts: Counts, bins: Mapping[str, str]) -> Counts:
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
    return Counts(by=[bins.get(c, c) for c in counts.by], values=values,
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
