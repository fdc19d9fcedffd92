"""Read and write the files the package works on: documents, sentence tables, labels.

Formats are chosen by extension: ``.txt`` (a document), ``.csv``, ``.tsv``, ``.jsonl`` /
``.ndjson`` and ``.parquet`` tables, each optionally ``.gz``-compressed (not Parquet). Every write
goes to a temporary file beside the target and is renamed over it only when complete.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from .errors import DataError
from .sentences import split_sentences
from .taxonomy import NO_THEME, Taxonomy

__all__ = [
    "TEXT_COL",
    "THEMES_COL",
    "THEME_COL",
    "DOC_COL",
    "SENT_COL",
    "TABLE_FORMATS",
    "file_format",
    "collect_documents",
    "read_document",
    "read_table",
    "iter_table",
    "iter_sentence_frames",
    "parse_themes",
    "join_themes",
    "read_labeled",
    "AtomicTableWriter",
    "table_sink",
    "atomic_write_text",
    "atomic_path",
]

TEXT_COL = "text"
THEMES_COL = "themes"
THEME_COL = "theme"
DOC_COL = "doc_id"
SENT_COL = "sentence"
THEME_SEP = ";"
TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
    ".text": "txt",
}


def file_format(path: str | Path) -> str:
    """Return the format of a path from its extension (``.gz`` is looked through).

    Raises
    ------
    DataError
        If the extension is not one the package reads or writes.
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        known = ", ".join(sorted(_SUFFIX_FORMATS))
        raise DataError(f"{path}: unknown file type (use one of {known}, optionally .gz)")
    return fmt


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
            docs = sorted(p for p in path.rglob("*") if p.is_file() and _is_text_doc(p))
            if not docs:
                raise DataError(f"{path}: folder holds no .txt documents")
            found.extend(docs)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return found


def _is_text_doc(path: Path) -> bool:
    try:
        return file_format(path) == "txt"
    except DataError:
        return False


def read_document(path: str | Path, *, encoding: str | None = None) -> str:
    """Read a plain-text document, decoding UTF-8 (with or without BOM) or UTF-16 with a BOM.

    Raises
    ------
    DataError
        If the file cannot be read or is not valid text in the detected encoding.
    """
    path = Path(path)
    try:
        raw = _open_binary(path).read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    encoding = encoding or _detect_encoding(raw[:4])
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not valid {encoding} text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); "
            "pass --encoding with the file's encoding, e.g. cp1252"
        ) from None
    if "\x00" in text:
        raise DataError(f"{path}: holds NUL bytes; it looks like a binary file, not text")
    return text


def _detect_encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "utf-8-sig"


def _open_binary(path: Path):
    """Open a file for binary reading, transparently decompressing ``.gz``."""
    if path.suffix.lower() == ".gz":
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
        If the file is missing, empty, malformed or lacks a required column.
    """
    path = Path(path)
    fmt = file_format(path)
    if fmt == "txt":
        raise DataError(f"{path}: a .txt file is a document, not a table")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if fmt == "parquet":
        chunks = _iter_parquet(path, chunksize)
    else:
        chunks = _iter_text_table(path, fmt, chunksize, encoding, progress)
    seen_any = False
    for chunk in chunks:
        if not seen_any:
            _check_columns(chunk, columns, path)
            seen_any = True
        yield chunk
    if not seen_any:
        raise DataError(f"{path}: the table is empty")


def _iter_parquet(path: Path, chunksize: int | None) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=chunksize or 65536):
            yield batch.to_pandas()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def _iter_text_table(path, fmt, chunksize, encoding, progress) -> Iterator[pd.DataFrame]:
    size = max(path.stat().st_size, 1)
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with raw:
        head = raw.read(4)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if path.suffix.lower() == ".gz" else raw
        if encoding is None:
            encoding = _detect_encoding(stream.peek(4)[:4] if hasattr(stream, "peek") else head)
        text = io.TextIOWrapper(stream, encoding=encoding, newline="")
        try:
            if fmt == "jsonl":
                reader = pd.read_json(
                    text, lines=True, chunksize=chunksize or 1_000_000, dtype=False
                )
            else:
                reader = pd.read_csv(
                    text,
                    sep="\t" if fmt == "tsv" else ",",
                    chunksize=chunksize or 1_000_000,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                )
            for chunk in reader:
                if progress is not None:
                    progress(min(raw.tell() / size, 1.0))
                yield chunk
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}: not valid {encoding} text ({exc.reason}); pass --encoding with the "
                "file's encoding, e.g. cp1252"
            ) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the table is empty") from None
        except (pd.errors.ParserError, ValueError) as exc:
            message = str(exc).strip()
            first_line = message.splitlines()[0] if message else type(exc).__name__
            raise DataError(f"{path}: malformed {fmt.upper()} ({first_line})") from None


def _check_columns(frame: pd.DataFrame, columns: Sequence[str] | None, path: Path) -> None:
    missing = [c for c in (columns or []) if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"{path}: no '{missing[0]}' column (columns: {have})")


def iter_sentence_frames(
    inputs: Sequence[str | Path],
    *,
    text_column: str = TEXT_COL,
    documents: bool = False,
    id_column: str | None = None,
    chunksize: int = 20_000,
    encoding: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the sentences of many inputs as DataFrames, in input order, a chunk at a time.

    Parameters
    ----------
    inputs : sequence of str or Path
        ``.txt`` documents, folders of them, or tables.
    text_column : str, default="text"
        Column holding the text in tables.
    documents : bool, default=False
        Treat each table row as a document and split it into sentences (``.txt`` inputs always are).
    id_column : str, default=None
        Column holding each row's document id; by default ``doc_id`` or ``id`` if present, else the
        row number.
    chunksize : int, default=20000
        Rows per chunk read from a table (with ``documents=True``, a hundredth as many rows).
    encoding : str, default=None
        Text encoding of inputs; None detects UTF-8 or UTF-16 from a byte-order mark.
    progress : callable, default=None
        Called with the fraction of all inputs done after each chunk.

    Yields
    ------
    DataFrame
        Columns ``doc_id``, ``sentence``, ``text``; ``start`` and ``end`` for split documents; and
        a table's other columns unchanged.
    """
    paths = _expand_inputs(inputs)
    for number, path in enumerate(paths):
        def report(fraction: float, number=number) -> None:
            if progress is not None:
                progress((number + fraction) / len(paths))

        if file_format(path) == "txt":
            yield _document_frame(path, encoding)
            report(1.0)
            continue
        # a speech holds ~100 sentences: read about chunksize sentences worth of documents
        rows = max(chunksize // 100, 1) if documents else chunksize
        offset = 0
        for chunk in iter_table(path, chunksize=rows, encoding=encoding,
                                columns=[text_column], progress=report):
            frame = _table_chunk(chunk, text_column, documents, id_column, offset, path)
            offset += len(chunk)
            yield frame


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
    text = read_document(path, encoding=encoding)
    sentences = split_sentences(text, doc_id=path.stem)
    return pd.DataFrame(
        {
            DOC_COL: [s.doc_id for s in sentences],
            SENT_COL: [s.index for s in sentences],
            "start": [s.start for s in sentences],
            "end": [s.end for s in sentences],
            TEXT_COL: [s.text for s in sentences],
        }
    )


def _table_chunk(chunk, text_column, documents, id_column, offset, path) -> pd.DataFrame:
    ids = _row_ids(chunk, id_column, offset, path)
    texts = chunk[text_column].fillna("").astype(str)
    if not documents:
        frame = chunk.rename(columns={text_column: TEXT_COL}).copy()
        if DOC_COL not in frame.columns:
            frame.insert(0, DOC_COL, ids)
        if SENT_COL not in frame.columns:
            frame.insert(1, SENT_COL, 0)
        return frame
    records = []
    other = [c for c in chunk.columns if c not in (text_column, DOC_COL)]
    for (_, row), doc_id, text in zip(chunk.iterrows(), ids, texts):
        extra = {c: row[c] for c in other}
        for s in split_sentences(text, doc_id=str(doc_id)):
            records.append({DOC_COL: s.doc_id, SENT_COL: s.index, "start": s.start, "end": s.end,
                            TEXT_COL: s.text, **extra})
    columns = [DOC_COL, SENT_COL, "start", "end", TEXT_COL, *other]
    return pd.DataFrame.from_records(records, columns=columns)


def _row_ids(chunk: pd.DataFrame, id_column: str | None, offset: int, path: Path) -> list[str]:
    if id_column is not None:
        if id_column not in chunk.columns:
            have = ", ".join(map(str, chunk.columns))
            raise DataError(f"{path}: no '{id_column}' column (columns: {have})")
        return chunk[id_column].astype(str).tolist()
    for candidate in (DOC_COL, "id"):
        if candidate in chunk.columns:
            return chunk[candidate].astype(str).tolist()
    return [f"{path.stem}:{offset + i + 1}" for i in range(len(chunk))]


def parse_themes(values: Iterable[object], taxonomy: Taxonomy, *, source: str = "input",
                 first_row: int = 2) -> list[list[str]]:
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
    parsed: list[list[str]] = []
    empty_rows: list[int] = []
    unknown: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        row = first_row + i
        ids = [by_name.get(t, t) if t not in known else t for t in _split_theme_cell(value)]
        if not ids:
            empty_rows.append(row)
        for theme in ids:
            if theme not in known:
                unknown.setdefault(theme, []).append(row)
        if len(ids) > 1 and NO_THEME in ids:
            ids = [t for t in ids if t != NO_THEME]
        parsed.append(ids)
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
    shown = ", ".join(map(str, rows[:5]))
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def join_themes(themes: Sequence[str]) -> str:
    """Join theme ids with ``;``, the inverse of :func:`parse_themes` for one row."""
    return THEME_SEP.join(themes)


def read_labeled(path: str | Path, taxonomy: Taxonomy, *, text_column: str = TEXT_COL,
                 label_column: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a labeled table and validate its texts and theme labels.

    The table needs a text column and a label column: ``themes`` (ids joined by ``;``, primary
    first) or a single-id ``theme`` column by default. Labels may be theme ids or theme names.

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
    frame = read_table(path, encoding=encoding, columns=[text_column])
    if label_column is None:
        label_column = THEMES_COL if THEMES_COL in frame.columns else THEME_COL
        if label_column not in frame.columns:
            have = ", ".join(map(str, frame.columns))
            raise DataError(f"{path}: no '{THEMES_COL}' or '{THEME_COL}' column (columns: {have})")
    _check_columns(frame, [label_column], Path(path))
    labels = parse_themes(frame[label_column], taxonomy, source=str(path))
    frame = frame.drop(columns=[c for c in (label_column, THEMES_COL) if c in frame.columns])
    frame = frame.rename(columns={text_column: TEXT_COL}).copy()
    frame[TEXT_COL] = frame[TEXT_COL].fillna("").astype(str)
    frame[THEMES_COL] = labels
    return frame


class AtomicTableWriter:
    """Write a table chunk by chunk to a temporary file, renamed over ``path`` on success.

    Use as a context manager; if the block raises (or the process dies) the target is untouched
    and the temporary file is removed.

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
            opener = gzip.open if self.path.suffix.lower() == ".gz" else open
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
        if self.format == "parquet":
            self._write_parquet(frame)
        elif self.format == "jsonl":
            if len(frame):
                text = frame.to_json(orient="records", lines=True, force_ascii=False)
                self._handle.write(text if text.endswith("\n") else text + "\n")
        else:
            sep = "\t" if self.format == "tsv" else ","
            frame.to_csv(self._handle, sep=sep, index=False, header=not self._header_written)
            self._header_written = True
        self.rows += len(frame)

    def _conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Give a chunk the first chunk's columns, in its order (JSON lines may differ)."""
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
            self._parquet = pq.ParquetWriter(self._tmp, table.schema)
        self._parquet.write_table(table.cast(self._parquet.schema))

    def __exit__(self, exc_type, exc, tb) -> None:
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
        else:
            with contextlib.suppress(OSError):
                self._tmp.unlink()


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

    Raises
    ------
    DataError
        If the folder does not exist or is not writable.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"{path}: folder {folder} does not exist")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise DataError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    os.close(fd)
    os.chmod(name, _default_file_mode())  # mkstemp creates 0600; give the usual permissions
    return Path(name)


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
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
