"""Read and write the files the package works on: documents, sentence tables, labels.

Formats are chosen by extension: ``.txt`` (a document), ``.csv``, ``.tsv``, ``.jsonl`` /
``.ndjson`` and ``.parquet`` tables, each optionally ``.gz``-compressed (not Parquet). Every write
goes to a temporary file beside the target and is renamed over it only when complete.

Input is checked before it is used: an unknown ``--encoding``, a byte-order mark that contradicts
it, text that does not decode, NUL bytes or a binary file posing as text, a table without rows,
a row with too many fields and a delimiter other than the format's are each one
:class:`~policy_themes.errors.DataError` naming the file (and the line where it helps). Rows whose
text is blank or missing are skipped, and the readers report how many and where
(:class:`DataFinding`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob
import gzip
import io
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import DOCUMENT_COLUMNS
from .errors import DataError
from .formats import file_format, is_text_document
from .sentences import document_span_columns
from .taxonomy import NO_THEME, THEME_SEP, Taxonomy

__all__ = [
    "TEXT_COL",
    "THEMES_COL",
    "THEME_COL",
    "DOC_COL",
    "find_document_column",
    "SENT_COL",
    "TABLE_FORMATS",
    "file_format",
    "collect_documents",
    "read_document",
    "read_table",
    "iter_table",
    "iter_sentence_frames",
    "DocumentRows",
    "sentence_frame",
    "parse_themes",
    "join_themes",
    "read_labeled",
    "read_labeled_table",
    "LabeledTable",
    "DataFinding",
    "blank_rows_finding",
    "label_findings",
    "AtomicTableWriter",
    "table_sink",
    "atomic_write_text",
    "atomic_path",
    "check_writable",
    "process_alive",
    "free_names",
    "string_array",
]

TEXT_COL = "text"
THEMES_COL = "themes"
THEME_COL = "theme"
DOC_COL = "doc_id"
SENT_COL = "sentence"
TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")
BLANK_TEXT = "blank_text"
DUPLICATE = "duplicate"
CONFLICT = "conflicting_labels"
_HEAD_BYTES = 8192
# byte-order marks, longest first (a UTF-32-LE mark starts with the UTF-16-LE one)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_MAGIC = ((b"\x1f\x8b", "a gzip-compressed file (name it with a .gz ending)"),
          (b"PAR1", "a Parquet file (name it .parquet)"),
          (b"PK\x03\x04", "a ZIP archive or an Excel workbook (save the sheet as CSV)"),
          (b"%PDF", "a PDF document"),
          (b"\x89PNG", "a PNG image"))
_SEPARATORS = {"csv": ",", "tsv": "\t"}
_SEPARATOR_NAMES = {",": "','", "\t": "tabs", ";": "';'", "|": "'|'"}
def collect_documents(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into the list of ``.txt`` documents they hold, sorted.

    Raises
    ------
    DataError
        If a path does not exist or a folder holds no ``.txt`` document.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            docs = sorted(p for p in path.rglob("*") if p.is_file() and is_text_document(p))
            if not docs:
                raise DataError(f"{path}: folder holds no .txt documents")
            found.extend(docs)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return found


def read_document(path: str | Path, *, encoding: str | None = None) -> str:
    """Read a plain-text document, decoding UTF-8 (with or without BOM) or UTF-16 with a BOM.

    Raises
    ------
    DataError
        If the file cannot be read or is not valid text in the detected encoding.
    """
    path = Path(path)
    try:
        with _open_binary(path) as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(_read_failure(path, exc)) from None
    encoding = _resolve_encoding(raw[:_HEAD_BYTES], encoding, path)
    _refuse_binary(raw[:_HEAD_BYTES], encoding, path, "a text document")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(_decode_failure(path, encoding, raw[exc.start], line)) from None
    if "\x00" in text:
        raise DataError(f"{path}: holds NUL bytes; it looks like a binary file, not text")
    return text


def _resolve_encoding(head: bytes, encoding: str | None, path: Path) -> str:
    """The codec to read a file with: the one given, else detected from a byte-order mark.

    Raises
    ------
    DataError
        If the encoding is unknown or not a text encoding, or the file's byte-order mark says
        another encoding than the one given.
    """
    bom = next((name for mark, name in _BOMS if head.startswith(mark)), None)
    if encoding is None:
        return "utf-8-sig" if bom in (None, "utf-8") else bom
    try:
        b"a".decode(encoding)  # LookupError for unknown names and for codecs that are not text
    except UnicodeDecodeError:
        pass
    except LookupError:
        raise DataError(f"unknown text encoding {encoding!r} (--encoding); use a name such as "
                        "utf-8, utf-16, cp1252 or latin-1") from None
    if bom is None:
        return encoding
    name = codecs.lookup(encoding).name
    family = "utf-8" if name in ("utf-8", "utf-8-sig") else name[:6] if name[:6] in (
        "utf-16", "utf-32") else None
    if family != bom:
        raise DataError(f"{path}: starts with a {bom.upper()} byte-order mark, but --encoding "
                        f"{encoding} was given; leave --encoding out")
    return "utf-8-sig" if bom == "utf-8" else bom


def _refuse_binary(head: bytes, encoding: str, path: Path, kind: str) -> None:
    """Refuse a file whose first bytes show it is binary, not text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise DataError(f"{path}: this is {what}, not {kind}")
    if b"\x00" in head and not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        raise DataError(f"{path}: holds NUL bytes, so it looks like a binary file, not {kind} "
                        "(if it is UTF-16 text without a byte-order mark, pass --encoding "
                        "utf-16-le)")


def _decode_failure(path: Path, encoding: str, byte: int, line: int | None) -> str:
    """The message for text that does not decode: where, and the --encoding to try."""
    name = "UTF-8" if _is_utf8(encoding) else encoding
    where = f"byte {byte:#04x}" + (f" on line {line}" if line else "")
    return (f"{path}: not valid {name} text ({where}); pass --encoding with the file's "
            "encoding, e.g. --encoding cp1252 for Windows or Latin-1 text")


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int | None]:
    """Find the first byte that does not decode and its line, reading the file again."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with _open_binary(path) as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                data = exc.object
                line += data[:exc.start].count(b"\n")
                utf16 = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
                return data[exc.start], None if utf16 else line
            line += block.count(b"\n")
    return 0, None


def _read_failure(path: Path, exc: BaseException) -> str:
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        return f"{path}: not a valid gzip file ({exc or type(exc).__name__})"
    return f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"


def _open_binary(path: Path):
    """Open a file for binary reading, transparently decompressing ``.gz``."""
    if _is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


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
            _check_columns(chunk, columns, path)
            seen_any = True
        if len(chunk):
            rows += len(chunk)
            yield chunk
    if not seen_any:
        raise DataError(f"{path}: the table is empty")
    if not rows:
        header = "a header" if fmt in _SEPARATORS else "columns"
        raise DataError(f"{path}: the table has {header} but no rows")


def _iter_parquet(path: Path, chunksize: int | None) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        # read each column a megabyte at a time, not a row group (a million rows) at once
        parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
        for batch in parquet.iter_batches(batch_size=chunksize or 65536):
            yield batch.to_pandas()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def _iter_text_table(path, fmt, chunksize, encoding, progress) -> Iterator[pd.DataFrame]:
    size = max(path.stat().st_size, 1)
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise DataError(_read_failure(path, exc)) from None
    with raw:
        try:
            stream = _decompressed(raw, path)
            head = stream.peek(_HEAD_BYTES)[:_HEAD_BYTES]
            encoding = _resolve_encoding(head, encoding, path)
            _refuse_binary(head, encoding, path, f"a {fmt.upper()} table")
            offset = 0
            for chunk, done in _table_chunks(path, fmt, chunksize, encoding, head, raw, stream):
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
            byte, line = _first_bad_byte(path, encoding)
            raise DataError(_decode_failure(path, encoding, byte, line)) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(_read_failure(path, exc)) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the table is empty") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(f"{path}: malformed {fmt.upper()} ({_parser_problem(exc, fmt)})") \
                from None


def _table_chunks(path, fmt, chunksize, encoding, head, raw, stream
                  ) -> Iterator[tuple[pd.DataFrame, int]]:
    """The chunks of a CSV, TSV or JSONL table, each with the bytes of the file read so far.

    A UTF-8 CSV or TSV table is read by Arrow (:mod:`.arrow_csv`; the UN corpus in 0.9 s of
    CPU against 1.7 s), as long as Arrow reads it as pandas would; from where it cannot,
    pandas reads the rest (from the start of the file, passing over the rows Arrow gave).
    """
    chunksize = chunksize or 1_000_000
    given = 0
    if fmt in _SEPARATORS and _is_utf8(encoding):
        from .arrow_csv import ArrowCsvUnreadable, header_names, iter_csv_chunks

        names = header_names(head.decode("utf-8", errors="replace"), _SEPARATORS[fmt])
        if names is not None:
            chunks = iter_csv_chunks(path, sep=_SEPARATORS[fmt], names=names,
                                     chunksize=chunksize, compressed=_is_gzip(path))
            while True:
                try:
                    chunk, done = next(chunks)
                except StopIteration:
                    return
                except ArrowCsvUnreadable:
                    break
                given += len(chunk)
                yield chunk, done
            raw.seek(0)
            stream = _decompressed(raw, path)
    for chunk in _pandas_reader(stream, fmt, encoding, chunksize):
        if given:  # pass over the rows Arrow gave
            if given >= len(chunk):
                given -= len(chunk)
                continue
            chunk, given = chunk.iloc[given:], 0  # (not met: both make chunks of a size)
        yield chunk, raw.tell()


def _pandas_reader(stream, fmt, encoding, chunksize):
    if fmt == "jsonl":
        return pd.read_json(io.TextIOWrapper(stream, encoding=encoding, newline=""),
                            lines=True, chunksize=chunksize, dtype=False)
    # pandas decodes UTF-8 itself, faster than a text wrapper (the corpus: 1.62 -> 1.43 s);
    # other encodings go through Python's codecs
    utf8 = _is_utf8(encoding)
    return pd.read_csv(
        stream if utf8 else io.TextIOWrapper(stream, encoding=encoding, newline=""),
        encoding=encoding if utf8 else None,
        sep=_SEPARATORS[fmt],
        chunksize=chunksize,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )


def _is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _decompressed(raw, path: Path):
    """The bytes of an open file, decompressed when its name ends in ``.gz``."""
    return gzip.GzipFile(fileobj=raw) if _is_gzip(path) else raw


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


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
    zero byte. Looking at the bytes is 25x faster than searching the cells (0.02 s against
    0.4 s for the UN corpus), and the cells are searched only when there is one."""
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


def _first_row(path: Path) -> int:
    """The row number of a table's first data row in messages: its line in CSV and TSV files
    (after the header), its line in JSON lines, its position in Parquet."""
    return 2 if file_format(path) in _SEPARATORS else 1


def _check_columns(frame: pd.DataFrame, columns: Sequence[str] | None, path: Path) -> None:
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


def iter_sentence_frames(
    inputs: Sequence[str | Path],
    *,
    text_column: str = TEXT_COL,
    documents: bool = False,
    doc_column: str | None = None,
    document_columns: Sequence[str] = DOCUMENT_COLUMNS,
    chunksize: int = 20_000,
    encoding: str | None = None,
    progress: Callable[[float], None] | None = None,
    on_skip: Callable[[str, list[int]], None] | None = None,
    split: bool = True,
) -> Iterator[pd.DataFrame | DocumentRows]:
    """Yield the sentences of many inputs as DataFrames, in input order, a chunk at a time.

    Table rows whose text is blank or missing are skipped, and so are documents without text;
    ``on_skip`` hears of them.

    Parameters
    ----------
    inputs : sequence of str or Path
        ``.txt`` documents, folders of them, or tables.
    text_column : str, default="text"
        Column holding the text in tables.
    documents : bool, default=False
        Treat each table row as a document and split it into sentences (``.txt`` inputs always are).
    doc_column : str, default=None
        Column naming each row's document (see :func:`find_document_column`). In a sentence
        table, the rows with the same value are one document's sentences, in order: they are
        one another's context, and a chunk never ends inside a run of them. With
        ``documents``, each row's document id (``id`` too is taken for it there).
    document_columns : sequence of str, default=DOCUMENT_COLUMNS
        Where to look for the document column when ``doc_column`` is None: the first present.
    chunksize : int, default=20000
        Rows per chunk read from a table (with ``documents=True``, a hundredth as many rows).
    encoding : str, default=None
        Text encoding of inputs; None detects UTF-8 or UTF-16 from a byte-order mark.
    progress : callable, default=None
        Called with the fraction of all inputs done after each chunk.
    on_skip : callable, default=None
        Called as ``on_skip(source, rows)`` with the row numbers (lines of CSV, TSV and JSONL
        files) of table rows skipped for blank text, or with no rows for an empty document.
    split : bool, default=True
        False yields the chunks of a table of documents as :class:`DocumentRows`, not yet
        split, so that a worker process can split them (:func:`sentence_frame`): splitting is
        most of the cost of reading an archive of speeches.

    Yields
    ------
    DataFrame
        Columns ``doc_id``, ``sentence``, ``text``; ``start`` and ``end`` for split documents; and
        a table's other columns unchanged. ``doc_id`` is the document column's value, or the
        file's name and row number where a sentence table has none (each row a document of its
        own). The index is the row number in the file of each table row (of each sentence's
        row, for documents); ``frame.attrs["source"]`` names the file and
        ``frame.attrs["documents"]`` the document column (None where there is none).
    """
    paths = _expand_inputs(inputs)
    for number, path in enumerate(paths):
        def report(fraction: float, number=number) -> None:
            if progress is not None:
                progress((number + fraction) / len(paths))

        if file_format(path) == "txt":
            frame = _document_frame(path, encoding)
            if len(frame):
                yield frame
            elif on_skip is not None:
                on_skip(str(path), [])
            report(1.0)
            continue
        # a speech holds ~100 sentences: read about chunksize sentences worth of documents
        rows = max(chunksize // 100, 1) if documents else chunksize
        offset = 0
        column: str | None = None
        held = _DocumentTail()
        for chunk in iter_table(path, chunksize=rows, encoding=encoding,
                                columns=[text_column], progress=report):
            if offset == 0:
                column = find_document_column(chunk.columns, document_columns, doc_column,
                                              source=str(path), documents=documents)
            frame, skipped = _table_chunk(chunk, text_column, documents, column, offset, path)
            offset += len(chunk)
            if skipped and on_skip is not None:
                on_skip(str(path), skipped)
            if isinstance(frame, DocumentRows):
                if not split:
                    if len(frame) > len(skipped):
                        yield frame
                    continue
                frame = frame.sentences()
            elif column is not None:
                frame = held.whole_documents(frame)
            if len(frame):
                frame.attrs["source"] = str(path)
                frame.attrs["documents"] = column
                yield frame
        tail = held.rest()
        if tail is not None and len(tail):
            tail.attrs["source"] = str(path)
            tail.attrs["documents"] = column
            yield tail


def find_document_column(columns: Iterable[object], document_columns: Sequence[str],
                         doc_column: str | None = None, *, source: str = "input",
                         documents: bool = False) -> str | None:
    """Decide which column of a table names each row's document.

    The one rule every command uses (``label``, ``predict``, ``train``, ``evaluate`` and the
    Dask engine): ``doc_column`` when given, else the first of ``document_columns`` the table
    has, else none. A sentence id (``id``) is never taken for a document: sentences that share
    no document are read without neighbours. Where each row is a document (``documents``), an
    ``id`` column is that document's id.

    Parameters
    ----------
    columns : iterable
        The table's column names.
    document_columns : sequence of str
        Candidate names, in order (a training config's ``context.document_columns``).
    doc_column : str, default=None
        The column named by the user (``--doc-column``).
    source : str, default="input"
        The table's name, for the error message.
    documents : bool, default=False
        Rows are documents, not sentences.

    Returns
    -------
    str or None

    Raises
    ------
    DataError
        If ``doc_column`` is not a column of the table.

    Examples
    --------
    >>> find_document_column(["id", "text", "source"], ["doc_id", "source"])
    'source'
    >>> find_document_column(["id", "text"], ["doc_id", "source"]) is None
    True
    """
    names = [str(c) for c in columns]
    if doc_column is not None:
        if doc_column not in names:
            raise DataError(f"{source}: no '{doc_column}' column for --doc-column "
                            f"(columns: {', '.join(names)})")
        return doc_column
    candidates = [*document_columns, "id"] if documents else document_columns
    return next((c for c in candidates if c in names), None)


class _DocumentTail:
    """Holds back the last document of a chunk of a sentence table for the next chunk, so that
    a document's sentences reach the model together (they are one another's context)."""

    def __init__(self):
        self._held: pd.DataFrame | None = None

    def whole_documents(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The held rows and ``frame`` up to its last document, whose rows are held."""
        if self._held is not None and len(self._held):
            frame = pd.concat([self._held, frame])
        ids = frame[DOC_COL].to_numpy()
        if not len(ids):
            self._held = None
            return frame
        changes = np.flatnonzero(ids[1:] != ids[:-1])
        if not len(changes):  # one document so far: wait for its end
            self._held = frame
            return frame.iloc[:0]
        cut = int(changes[-1]) + 1
        self._held = frame.iloc[cut:]
        return frame.iloc[:cut]

    def rest(self) -> pd.DataFrame | None:
        """The rows still held at the end of the table."""
        held, self._held = self._held, None
        return held


def _expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their ``.txt`` documents."""
    paths: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            paths.extend(collect_documents([path]))
        elif not path.exists():
            raise DataError(f"{path}: no such file or folder")
        else:
            file_format(path)
            paths.append(path)
    if not paths:
        raise DataError("no input given")
    return paths


def _document_frame(path: Path, encoding: str | None) -> pd.DataFrame:
    columns, _ = _sentence_columns([path.stem], [read_document(path, encoding=encoding)])
    return pd.DataFrame(columns)


def _sentence_columns(ids: Iterable[object], texts: Iterable[str]
                      ) -> tuple[dict[str, pd.api.extensions.ExtensionArray | np.ndarray | list],
                                 np.ndarray]:
    """The sentences of documents as columns (``doc_id``, ``sentence``, ``start``, ``end``,
    ``text``), and the position of each sentence's document.

    Made as arrays, not lists for pandas to convert: the document ids taken from an array of
    the ids, the numbers from NumPy (pandas infers the type of a list of ints item by item).
    """
    ids = [str(doc_id) for doc_id in ids]
    counts, starts, ends, sentences = [], [], [], []
    for found_starts, found_ends, cleaned in document_span_columns(texts):
        counts.append(len(found_starts))
        starts += found_starts
        ends += found_ends
        sentences += cleaned
    owners = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    firsts = np.cumsum(counts, dtype=np.int64) - np.asarray(counts, dtype=np.int64)
    columns = {
        DOC_COL: string_array(ids).take(owners),
        SENT_COL: np.arange(len(owners), dtype=np.int64) - np.repeat(firsts, counts),
        "start": np.array(starts, dtype=np.int64),
        "end": np.array(ends, dtype=np.int64),
        TEXT_COL: sentences,
    }
    return columns, owners


# pandas' own dtype for strings: Arrow-backed ``str`` from pandas 3 on, object before
_OBJECT_STRINGS = pd.Series([""]).dtype == object


def string_array(values) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """Strings (a list of str, or an Arrow array) as a column of pandas' own string dtype:
    Arrow-backed ``str`` from pandas 3 on (no Python strings made), an object array before
    (where ``dtype="str"`` would make NumPy's fixed-width strings)."""
    if _OBJECT_STRINGS:
        return np.array(values if isinstance(values, list) else values.to_pylist(),
                        dtype=object)
    return pd.array(values, dtype="str")


def _table_chunk(chunk, text_column, documents, doc_column, offset, path
                 ) -> tuple[pd.DataFrame | DocumentRows, list[int]]:
    """A chunk of a table as sentences (as documents still to split with ``documents``), and
    the row numbers of the rows with blank text."""
    first = _first_row(path) + offset
    ids = _row_ids(chunk, doc_column, offset, path)
    blank = _blank_mask(chunk[text_column])
    skipped = [first + int(i) for i in np.flatnonzero(blank)]
    if documents:
        return DocumentRows(chunk, text_column, ids, str(path), first), skipped
    frame = chunk.rename(columns={text_column: TEXT_COL}).copy()
    frame.index = pd.RangeIndex(first, first + len(frame))
    if DOC_COL in frame.columns:
        frame[DOC_COL] = ids
    else:
        frame.insert(0, DOC_COL, ids)
    if SENT_COL not in frame.columns:
        frame.insert(1, SENT_COL, 0)
    return (frame[~blank] if skipped else frame), skipped


class DocumentRows:
    """Rows of a table that are documents, not yet split into sentences.

    :func:`iter_sentence_frames` yields these with ``split=False`` so that the processes that
    label or predict a chunk also split it, rather than the one process that reads the input.

    Parameters
    ----------
    rows : DataFrame
        The table's rows (blank texts give no sentences).
    text_column : str
        The column holding each document.
    ids : list of str
        Each row's document id.
    source : str
        The file the rows come from.
    first_row : int
        Row number in the file of the first row (a line of CSV, TSV and JSONL files).
    """

    def __init__(self, rows: pd.DataFrame, text_column: str, ids: list[str], source: str,
                 first_row: int):
        self.rows = rows
        self.text_column = text_column
        self.ids = ids
        self.source = source
        self.first_row = first_row

    def __len__(self) -> int:
        """Number of documents."""
        return len(self.rows)

    def sentences(self) -> pd.DataFrame:
        """The documents' sentences: ``doc_id``, ``sentence``, ``start``, ``end``, ``text``,
        then the rows' other columns, as :func:`iter_sentence_frames` yields them; the index is
        the row number in the file of each sentence's document."""
        return self.sentences_and_texts()[0]

    def sentences_and_texts(self) -> tuple[pd.DataFrame, list[str]]:
        """:meth:`sentences`, and its ``text`` column as the list of strings it was made of
        (for a caller that needs them: no round trip through the frame's Arrow array)."""
        columns, owners = _sentence_columns(
            self.ids, self.rows[self.text_column].fillna("").astype(str))
        frame = pd.DataFrame(columns, index=self.first_row + owners)
        for column in (c for c in self.rows.columns if c not in (self.text_column, DOC_COL)):
            # taken from the column's own array: no round trip through Python objects
            frame[column] = self.rows[column].array.take(owners)
        frame.attrs["source"] = self.source
        return frame, columns[TEXT_COL]


def sentence_frame(chunk: pd.DataFrame | DocumentRows) -> pd.DataFrame:
    """A chunk of :func:`iter_sentence_frames` as sentences (:class:`DocumentRows` split)."""
    return chunk.sentences() if isinstance(chunk, DocumentRows) else chunk


def _blank_mask(texts: pd.Series) -> np.ndarray:
    """True where a text cell is missing, empty or only white space."""
    return (texts.isna() | texts.astype(str).str.strip().eq("")).to_numpy(dtype=bool)


def _row_ids(chunk: pd.DataFrame, doc_column: str | None, offset: int, path: Path
             ) -> list[str]:
    """Each row's document: the document column's value, else the file's name and row."""
    if doc_column is not None:
        return chunk[doc_column].astype(str).tolist()
    stem = path.stem
    return [f"{stem}:{offset + i + 1}" for i in range(len(chunk))]


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
    # each distinct cell is parsed once; a missing cell (code -1) is the last, empty one
    codes, distinct = pd.factorize(pd.Series(values if isinstance(values, pd.Series)
                                             else list(values), dtype=object))
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
        raise DataError(
            f"{source}: unknown theme '{theme}' in {_rows_text(rows)}{more}; "
            f"known themes: {', '.join(taxonomy.ids)}"
        )
    if empty_rows:
        raise DataError(f"{source}: empty themes cell in {_rows_text(empty_rows)}")
    return parsed


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
    ``.json`` file is a Label Studio export (:func:`~policy_themes.labelstudio.read_label_studio`).

    Returns
    -------
    LabeledTable
    """
    from .labelstudio import is_label_studio_file, read_label_studio

    if is_label_studio_file(path):
        return read_label_studio(path, taxonomy, text_column=text_column)
    frame = read_table(path, encoding=encoding, columns=[text_column])
    path = Path(path)
    if label_column is None:
        label_column = THEMES_COL if THEMES_COL in frame.columns else THEME_COL
        if label_column not in frame.columns:
            have = ", ".join(map(str, frame.columns))
            raise DataError(f"{path}: no '{THEMES_COL}' or '{THEME_COL}' column (columns: {have})")
    _check_columns(frame, [label_column], path)
    first = _first_row(path)
    blank = _blank_mask(frame[text_column])
    skipped = [first + int(i) for i in np.flatnonzero(blank)]
    rows = [first + int(i) for i in np.flatnonzero(~blank)]
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
        Column holding the labels; None looks for ``themes``, then ``theme``.
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


class AtomicTableWriter:
    """Write a table chunk by chunk to a temporary file, renamed over ``path`` on success.

    Use as a context manager; if the block raises (or the process is interrupted) the target is
    untouched and the temporary file is removed. If the process is killed outright the
    temporary file stays behind, never the target half-written, and the next write to the same
    target removes it.

    Parameters
    ----------
    path : str or Path
        Target file; its extension chooses CSV, TSV, JSONL or Parquet.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = file_format(self.path)
        if self.format not in TABLE_FORMATS:
            raise DataError(f"{self.path}: cannot write a table as .{self.format}")
        self.rows = 0
        self._tmp: Path | None = None
        self._handle = None
        self._parquet = None
        self._header_written = False
        self._columns: list | None = None

    def __enter__(self) -> AtomicTableWriter:
        self._tmp = atomic_path(self.path)
        if self.format != "parquet":
            opener = gzip.open if _is_gzip(self.path) else open
            self._handle = opener(self._tmp, "wt", encoding="utf-8", newline="")
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append a chunk.

        Raises
        ------
        DataError
            If a CSV, TSV or Parquet chunk has columns the first chunk did not have (inputs of
            different shapes, such as a document and a table, cannot share one such file).
        """
        frame = self._conform(frame)
        try:
            if self.format == "parquet":
                self._write_parquet(frame)
            elif self.format == "jsonl":
                if len(frame):
                    text = frame.to_json(orient="records", lines=True, force_ascii=False)
                    self._handle.write(text if text.endswith("\n") else text + "\n")
            else:
                sep = "\t" if self.format == "tsv" else ","
                # csv quotes only cells holding "\n" and the separator: a lone "\r" would
                # break the row when read back, so such a chunk is quoted in full
                quoting = csv.QUOTE_ALL if _has_carriage_return(frame) else csv.QUOTE_MINIMAL
                frame.to_csv(self._handle, sep=sep, index=False, quoting=quoting,
                             header=not self._header_written)
                self._header_written = True
        except OSError as exc:  # a full disk, say
            raise DataError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        self.rows += len(frame)

    def _conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Give a chunk the first chunk's columns, in its order (JSON lines may differ)."""
        if not frame.columns.is_unique:
            twice = frame.columns[frame.columns.duplicated()][0]
            raise DataError(f"{self.path}: the output would have two '{twice}' columns")
        if self.format == "jsonl":
            return frame
        if self._columns is None:
            self._columns = list(frame.columns)
            return frame
        extra = [c for c in frame.columns if c not in self._columns]
        if extra:
            names = ", ".join(map(str, extra))
            raise DataError(f"{self.path}: the inputs have different columns ({names} is new); "
                            "write them to separate files or use .jsonl")
        return frame.reindex(columns=self._columns)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._tmp, table.schema,
                                             use_dictionary=_dictionary_columns(table))
        self._parquet.write_table(table.cast(self._parquet.schema))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._handle is not None:
                self._handle.close()
            if self._parquet is not None:
                self._parquet.close()
            elif self.format == "parquet" and exc_type is None:
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({}), self._tmp)
            if exc_type is None:
                os.replace(self._tmp, self.path)
                return
        except OSError as error:
            self._discard()
            if exc_type is None:
                raise DataError(f"{self.path}: cannot write ({error.strerror or error})") \
                    from None
            return  # the block's own exception goes on
        except BaseException:
            self._discard()
            raise
        self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self._tmp.unlink()


def _dictionary_columns(table) -> list[str]:
    """The columns worth a dictionary in Parquet, judged on the first chunk: all but strings
    mostly different from each other (sentences, top-k cells), whose dictionary Arrow would
    build for every row group only to drop it (13% of the writing time)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = []
    for name, column in zip(table.column_names, table.columns):
        strings = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if not strings or pc.count_distinct(column).as_py() <= len(column) // 2:
            names.append(name)
    return names


def _has_carriage_return(frame: pd.DataFrame) -> bool:
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_string_dtype(values):
            try:
                if values.str.contains("\r", regex=False, na=False).any():
                    return True
            except AttributeError:
                continue
    return any("\r" in str(c) for c in frame.columns)


def free_names(columns: Iterable[object], names: Iterable[str], prefix: str) -> dict[str, str]:
    """Names for new output columns that keep clear of a table's own columns.

    Returns ``{name: name}``, or ``{name: prefix + name}`` where the table already has ``name``,
    so a table's columns are never overwritten or doubled in the output.

    Raises
    ------
    DataError
        If the table has both ``name`` and ``prefix + name``.
    """
    taken = {str(c) for c in columns}
    chosen = {}
    for name in names:
        new = prefix + name if name in taken else name
        if new in taken:
            raise DataError(f"the input has columns '{name}' and '{new}', and the output needs "
                            "one of those names for its own column; rename one of them")
        chosen[name] = new
    return chosen


class _NullWriter:
    """Stands in for a writer when no output file is wanted."""

    rows = 0

    def __enter__(self) -> _NullWriter:
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Discard the chunk."""

    def __exit__(self, *exc) -> None:
        return None


def table_sink(path: str | Path | None) -> AtomicTableWriter | _NullWriter:
    """An :class:`AtomicTableWriter` for ``path``, or a writer that discards when it is None."""
    return AtomicTableWriter(path) if path is not None else _NullWriter()


def atomic_path(path: Path) -> Path:
    """Create and return an empty temporary file beside ``path`` (same folder, so rename is atomic).

    The name is ``.<name>.<pid>.<random>.tmp``: temporary files of ``path`` left by a process
    that no longer runs (one killed outright) are removed first.

    Raises
    ------
    DataError
        If the folder does not exist or is not writable, or ``path`` is a folder.
    """
    folder = check_writable(path).parent
    _remove_stale_temporaries(path, folder)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                    dir=folder)
    except OSError as exc:
        raise DataError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    os.close(fd)
    os.chmod(name, _default_file_mode())  # mkstemp creates 0600; give the usual permissions
    return Path(name)


def check_writable(path: str | Path) -> Path:
    """Check, before any work, that a file can be written at ``path``: its folder exists and
    the path is not a folder.

    Raises
    ------
    DataError
        If the folder is missing or not a folder, or ``path`` is a folder.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        if folder.exists():
            raise DataError(f"{path}: {folder} is not a folder")
        raise DataError(f"{path}: folder {folder} does not exist")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a file name")
    return path


def _remove_stale_temporaries(path: Path, folder: Path) -> None:
    """Delete ``.<name>.<pid>.*.tmp`` files beside ``path`` whose process is gone."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[^.]+\.tmp")
    for candidate in folder.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(candidate.name)
        if match and not process_alive(int(match.group(1))) and candidate.is_file():
            with contextlib.suppress(OSError):
                candidate.unlink()


def process_alive(pid: int) -> bool:
    """Whether a process of this machine runs with that id (on Windows: always assumed)."""
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name == "nt":  # os.kill(pid, 0) would end the process on Windows
        return pid > 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = atomic_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
