"""Inputs as sentence frames: documents split, tables' rows as sentences or documents, each
sentence with its document (its context)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.config import DOCUMENT_COLUMNS
from policy_themes.errors import DataError
from policy_themes.io.decoding import collect_documents, read_document
from policy_themes.io.formats import file_format
from policy_themes.io.tables import (
    DOC_COL,
    SENT_COL,
    TEXT_COL,
    _first_row,
    iter_table,
    refuse_non_text,
)
from policy_themes.text.sentences import document_span_columns

__all__ = ["find_document_column", "iter_sentence_frames", "DocumentRows", "sentence_frame",
           "string_array", "blank_mask"]

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
    refuse_non_text(chunk[text_column], text_column, path, first)
    ids = _row_ids(chunk, doc_column, offset, path)
    blank = blank_mask(chunk[text_column])
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


def blank_mask(texts: pd.Series) -> np.ndarray:
    """True where a text cell is missing, empty or only white space."""
    return (texts.isna() | texts.astype(str).str.strip().eq("")).to_numpy(dtype=bool)


def _row_ids(chunk: pd.DataFrame, doc_column: str | None, offset: int, path: Path
             ) -> list[str]:
    """Each row's document: the document column's value, else the file's name and row."""
    if doc_column is not None:
        return chunk[doc_column].astype(str).tolist()
    stem = path.stem
    return [f"{stem}:{offset + i + 1}" for i in range(len(chunk))]
