"""Read tables (CSV, TSV, JSONL, Parquet; gzip allowed) whole or a chunk at a time, their cells
checked: text, bounded in size, no NUL bytes."""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.errors import DataError
from policy_themes.io.decoding import (
    HEAD_BYTES,
    capped_gzip,
    decode_failure,
    first_bad_byte,
    is_gzip,
    is_utf8,
    read_failure,
    refuse_binary,
    refuse_gzip_bomb,
    resolve_encoding,
)
from policy_themes.io.formats import file_format
from policy_themes.limits import (
    cell_too_big,
    max_cell_bytes,
)

__all__ = ["TEXT_COL", "THEMES_COL", "THEME_COL", "DOC_COL", "SENT_COL", "TABLE_FORMATS",
           "read_table", "iter_table", "check_columns", "refuse_non_text"]

TEXT_COL = "text"


THEMES_COL = "themes"


THEME_COL = "theme"


DOC_COL = "doc_id"


SENT_COL = "sentence"


TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")


BLANK_TEXT = "blank_text"


DUPLICATE = "duplicate"


CONFLICT = "conflicting_labels"


_SEPARATORS = {"csv": ",", "tsv": "\t"}


_SEPARATOR_NAMES = {",": "','", "\t": "tabs", ";": "';'", "|": "'|'"}


def read_table(
    path: str | Path, *, encoding: str | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read a whole CSV, TSV, JSONL or Parquet table.

    Parameters
    ----------
    path : str or Path
        The table.
    encoding : str, default=None
        Text encoding of CSV/TSV/JSONL; None detects UTF-8 or UTF-16 from a byte-order mark.
    columns : sequence of str, default=None
        Columns that must be present.

    Returns
    -------
    DataFrame

    Raises
    ------
    DataError
        If the file is missing, empty, malformed or lacks a required column.
    """
    chunks = list(iter_table(path, encoding=encoding, columns=columns))
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def iter_table(
    path: str | Path,
    *,
    chunksize: int | None = None,
    encoding: str | None = None,
    columns: Sequence[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Read a table in chunks of ``chunksize`` rows (the whole table at once when None).

    ``progress`` is called after each chunk with the fraction of the file read so far.

    Raises
    ------
    DataError
        If the file is missing, empty, has a header but no rows, is malformed or binary, does
        not decode, or lacks a required column.
    """
    path = Path(path)
    fmt = file_format(path)
    if fmt == "txt":
        raise DataError(f"{path}: a .txt file is a document, not a table")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a table")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if fmt == "parquet":
        chunks = _iter_parquet(path, chunksize)
    else:
        chunks = _iter_text_table(path, fmt, chunksize, encoding, progress)
    seen_any = False
    rows = 0
    for chunk in chunks:
        if not seen_any:
            check_columns(chunk, columns, path)
            seen_any = True
        if len(chunk):
            _refuse_huge_cells(chunk, path, _first_row(path) + rows)
            rows += len(chunk)
            yield chunk
    if not seen_any:
        raise DataError(f"{path}: the table is empty")
    if not rows:
        header = "a header" if fmt in _SEPARATORS else "columns"
        raise DataError(f"{path}: the table has {header} but no rows")


def _iter_parquet(path: Path, chunksize: int | None) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    first = _first_row(path)
    try:
        # read each column a megabyte at a time, not a row group (a million rows) at once
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
        for batch in parquet.iter_batches(batch_size=chunksize or 65536):
            _refuse_invalid_utf8(batch, path, first)
            first += batch.num_rows
            yield batch.to_pandas()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def _refuse_invalid_utf8(batch, path: Path, first_row: int) -> None:
    """Refuse a string column whose bytes are not UTF-8 (Parquet does not check what a writer
    stored as strings), naming the column and the row."""
    import pyarrow as pa

    for name, column in zip(batch.schema.names, batch.columns):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            values = column.cast(pa.large_binary()).to_pylist()
            row = next(i for i, v in enumerate(values) if v is not None and not _is_utf8_bytes(v))
            raise DataError(f"{path}: row {first_row + row}, column '{name}' is not valid "
                            "UTF-8 text") from None


def _is_utf8_bytes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _iter_text_table(path, fmt, chunksize, encoding, progress) -> Iterator[pd.DataFrame]:
    size = max(path.stat().st_size, 1)
    if is_gzip(path):
        refuse_gzip_bomb(path)
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise DataError(read_failure(path, exc)) from None
    with raw:
        try:
            stream = _decompressed(raw, path)
            head = stream.peek(HEAD_BYTES)[:HEAD_BYTES]
            encoding = resolve_encoding(head, encoding, path)
            refuse_binary(head, encoding, path, f"a {fmt.upper()} table")
            offset = 0
            for chunk, done in _table_chunks(fmt, chunksize, encoding, raw, stream):
                if fmt != "jsonl" and not isinstance(chunk.index, pd.RangeIndex):
                    # pandas reads a first row longer than the header as an index: refuse it
                    raise DataError(f"{path}: malformed {fmt.upper()} (line 2 has "
                                    f"{len(chunk.columns) + chunk.index.nlevels} fields, the "
                                    f"header has {len(chunk.columns)}; "
                                    f"{_quote_hint(fmt)})")
                _refuse_nul_cells(chunk, path, _first_row(path) + offset)
                offset += len(chunk)
                if progress is not None:
                    progress(min(done / size, 1.0))
                yield chunk
        except UnicodeDecodeError:
            byte, line = first_bad_byte(path, encoding)
            raise DataError(decode_failure(path, encoding, byte, line)) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(read_failure(path, exc)) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the table is empty") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(f"{path}: malformed {fmt.upper()} ({_parser_problem(exc, fmt)})") \
                from None


def _table_chunks(fmt, chunksize, encoding, raw, stream) -> Iterator[tuple[pd.DataFrame, int]]:
    """The chunks of a CSV, TSV or JSONL table, read by pandas, each with the bytes of the file
    read so far."""
    for chunk in _pandas_reader(stream, fmt, encoding, chunksize or 1_000_000):
        yield chunk, raw.tell()


def _pandas_reader(stream, fmt, encoding, chunksize):
    if fmt == "jsonl":
        return pd.read_json(io.TextIOWrapper(stream, encoding=encoding, newline=""),
                            lines=True, chunksize=chunksize, dtype=False)
    # pandas decodes UTF-8 itself, faster than a text wrapper; other encodings go through
    # Python's codecs
    utf8 = is_utf8(encoding)
    return pd.read_csv(
        stream if utf8 else io.TextIOWrapper(stream, encoding=encoding, newline=""),
        encoding=encoding if utf8 else None,
        sep=_SEPARATORS[fmt],
        chunksize=chunksize,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )


def _decompressed(raw, path: Path):
    """The bytes of an open file, decompressed when its name ends in ``.gz`` (up to the
    limit, see :class:`_CappedGzip`)."""
    return capped_gzip(raw, path) if is_gzip(path) else raw


def _quote_hint(fmt: str) -> str:
    return f"put texts that contain {'a tab' if fmt == 'tsv' else 'a comma'} in quotes"


def _parser_problem(exc: Exception, fmt: str) -> str:
    """pandas' parser message in the package's words, with the line it is about."""
    message = str(exc).strip()
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields and fmt in _SEPARATORS:
        expected, line, saw = fields.groups()
        return f"line {line} has {saw} fields, the header has {expected}; {_quote_hint(fmt)}"
    quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if quote:
        return f"a quote opened on line {int(quote.group(1)) + 1} is never closed"
    return message.splitlines()[0] if message else type(exc).__name__


def _refuse_nul_cells(chunk: pd.DataFrame, path: Path, first_row: int) -> None:
    """Refuse NUL characters in column names or text cells: a binary file, not text."""
    if any("\x00" in str(c) for c in chunk.columns):
        raise DataError(f"{path}: holds NUL bytes in its header; it looks like a binary file, "
                        "not text")
    for column in chunk.columns:
        values = chunk[column]
        if not pd.api.types.is_string_dtype(values) or not _may_hold_nul(values):
            continue
        try:
            hits = values.str.contains("\x00", regex=False, na=False).to_numpy(dtype=bool)
        except AttributeError:  # JSON lines: an object column without any string
            continue
        if hits.any():
            row = first_row + int(hits.argmax())
            raise DataError(f"{path}: holds a NUL byte in row {row}; it looks like a binary "
                            "file, not text")


def _may_hold_nul(values: pd.Series) -> bool:
    """False when a column of strings certainly holds no NUL character: its Arrow data has no
    zero byte. Looking at the bytes is much faster than searching the cells, which are
    searched only when there is one."""
    if not isinstance(values.array, pd.arrays.ArrowStringArray):
        return True
    import pyarrow as pa

    arrow = pa.array(values.array)  # the column's own Arrow data, not a copy
    for piece in arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]:
        if not (pa.types.is_string(piece.type) or pa.types.is_large_string(piece.type)):
            return True
        data = piece.buffers()[2]
        if data is not None and not np.frombuffer(data, dtype=np.uint8).all():
            return True
    return False


def _refuse_huge_cells(chunk: pd.DataFrame, path: Path, first_row: int) -> None:
    """Refuse a cell holding more than :func:`~policy_themes.limits.max_cell_bytes` of text."""
    limit = max_cell_bytes()
    for column in chunk.columns:
        sizes = _cell_bytes(chunk[column], limit)
        if sizes is not None and len(sizes) and sizes.max() > limit:
            at = int(np.argmax(sizes > limit))
            raise cell_too_big(path, first_row + at, column, int(sizes[at]))


def _cell_bytes(values: pd.Series, limit: int) -> np.ndarray | None:
    """The UTF-8 bytes of each text cell of a column (0 for other cells; exact only for the
    cells that may pass ``limit``), or None for a column of another type."""
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        import pyarrow as pa
        import pyarrow.compute as pc

        sizes = pc.binary_length(pa.array(values.array)).fill_null(0)
        return np.asarray(sizes.to_numpy(zero_copy_only=False), dtype=np.int64)
    if values.dtype != object:
        return None
    cells = values.to_numpy()
    sizes = np.fromiter((len(v) if isinstance(v, str) else 0 for v in cells), dtype=np.int64,
                        count=len(cells))
    for at in np.flatnonzero(sizes * 4 > limit):  # a character takes up to 4 bytes
        sizes[at] = len(cells[at].encode("utf-8", "surrogatepass"))
    return sizes


def refuse_non_text(values: pd.Series, column: object, path: Path, first_row: int) -> None:
    """Refuse a text column's cells that are not text (numbers, true/false, JSON objects,
    lists, bytes), naming the first one's row: texts are labeled as they are, never as the
    ``repr`` of another type. Missing cells are left to the blank-text rule."""
    if isinstance(values.dtype, pd.StringDtype):
        return
    present = values.notna().to_numpy(dtype=bool)
    if values.dtype == object:
        present = present & np.fromiter((not isinstance(v, str) for v in values.to_numpy()),
                                        dtype=bool, count=len(values))
    if present.any():
        at = int(np.argmax(present))
        raise DataError(f"{path}: row {first_row + at}, column '{column}' holds "
                        f"{_kind_of(values.iloc[at])}, not text; write each text as a string "
                        "(in quotes, in JSON lines)")


def _kind_of(value: object) -> str:
    """What a cell that is not text holds, for a message."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return f"true/false ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "a list"
    if isinstance(value, (bytes, bytearray)):
        return "bytes (a binary column)"
    return f"a value of type {type(value).__name__}"


def _first_row(path: Path) -> int:
    """The row number of a table's first data row in messages: its line in CSV and TSV files
    (after the header), its line in JSON lines, its position in Parquet."""
    return 2 if file_format(path) in _SEPARATORS else 1


def check_columns(frame: pd.DataFrame, columns: Sequence[str] | None, path: Path) -> None:
    missing = [c for c in (columns or []) if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"{path}: no '{missing[0]}' column (columns: {have})"
                        f"{_delimiter_hint(frame, path)}")


def _delimiter_hint(frame: pd.DataFrame, path: Path) -> str:
    """When a CSV or TSV header is one column holding another delimiter, say so."""
    fmt = file_format(path)
    if fmt not in _SEPARATORS or len(frame.columns) != 1:
        return ""
    header = str(frame.columns[0])
    own = _SEPARATORS[fmt]
    for sep, name in _SEPARATOR_NAMES.items():
        if sep != own and sep in header:
            return (f"; the file seems to use {name} between columns, but .{fmt} is read with "
                    f"{_SEPARATOR_NAMES[own]}: check the file's format or --text-column")
    return ""
