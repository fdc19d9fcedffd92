"""Read a CSV or TSV table in chunks with Arrow's CSV parser, as pandas would read it.

pandas' chunked reader decompresses, parses into Python strings, and then the strings are
made Arrow strings; here Arrow decompresses and parses into its own strings, after a scan of
the quotes, for about half the CPU on the UN corpus. In a parallel ``predict`` the process that
reads shares the cores with the workers, so the CPU it saves is wall time.

The file is read a block at a time, and each block is cut after its last line feed outside
quotes, so that Arrow parses whole records (in this thread: Arrow's own streaming reader would
read ahead 32 blocks, in threads of its own). Finding those line feeds means following the
quotes, which :class:`_QuoteScanner` does with array operations; it also refuses, before Arrow
parses them, the bytes where pandas' parser and Arrow's would not agree: a quote opened inside
a cell, a carriage return without a line feed outside quotes, a quote left open at the end.

Arrow's parser is stricter than pandas' too: a row with more or fewer fields than the header is
an error where pandas fills or shifts it. :func:`iter_csv_chunks` raises
:class:`ArrowCsvUnreadable` for any of these, and its caller reads the table with pandas from
there on (which also gives the messages the package reports). What it does give is what pandas
gives, chunk for chunk: the same rows, the same string dtype, empty cells missing, the same
index.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.limits import (
    cell_too_big,
    decompressed_too_big,
    max_cell_bytes,
    max_decompressed_bytes,
)

__all__ = ["ArrowCsvUnreadable", "header_names", "iter_csv_chunks"]

_BLOCK_BYTES = 1 << 20
_NOT_LINE_END = re.compile(rb"[^\r\n]")


class ArrowCsvUnreadable(Exception):
    """Arrow's reader cannot give what pandas would (or the file has a problem): read the
    table with pandas."""


def header_names(head: str, sep: str) -> list[str] | None:
    """The column names in the first record of ``head`` (the decoded start of the file), when
    pandas would use them as they are: none empty, none twice (pandas renames those), and the
    record complete within ``head``; else None."""
    lines = io.StringIO(head.removeprefix("\ufeff"), newline="")
    try:
        names = next(csv.reader(lines, delimiter=sep, strict=True))
    except (StopIteration, csv.Error):
        return None
    if not names or "" in names or len(set(names)) != len(names) or not lines.read():
        return None  # the header is all of the head: it may go on past it
    return names


def iter_csv_chunks(path: Path, *, sep: str, names: list[str], chunksize: int,
                    compressed: bool) -> Iterator[tuple[pd.DataFrame, int]]:
    """Chunks of ``chunksize`` rows (the last one shorter) of a UTF-8 CSV or TSV file, all
    columns strings, as ``pd.read_csv(dtype=str, keep_default_na=False, na_values=[""])``.

    Parameters
    ----------
    path : Path
        The file.
    sep : str
        The delimiter.
    names : list of str
        The header's names (:func:`header_names`).
    chunksize : int
        Rows a chunk.
    compressed : bool
        Whether the file is gzip-compressed.

    Yields
    ------
    (DataFrame, int)
        A chunk (indexed from its first row's position among the rows, from 0) and how far
        into the file its rows go, in bytes (of the compressed file: the share of its
        decompressed bytes read).

    Raises
    ------
    ArrowCsvUnreadable
        Where Arrow fails or would read the file otherwise than pandas; the chunks yielded so
        far are right.
    DataError
        Where a compressed file decompresses past its limit, or a row passes the limit of its
        cells (:mod:`policy_themes.limits`): before the bytes are held in memory.
    """
    import pyarrow as pa

    try:
        source = pa.OSFile(str(path))
    except (OSError, pa.ArrowException) as exc:
        raise ArrowCsvUnreadable(str(exc)) from None
    with source:
        try:
            stream = pa.CompressedInputStream(source, "gzip") if compressed else source
            read = [0]  # bytes read from the stream (decompressed)
            limits = _Limits(path, source.size() if compressed else None, len(names))
            tables = _record_tables(stream, sep, names, read, limits)
            done = 0
            for table, first, taken in _rechunked(tables, chunksize):
                # the share of what was read that the rows given take, of what the file gave
                # (never less than before: the compressed file is read ahead in steps)
                done = max(done, int(source.tell() * min(taken / max(read[0], 1), 1)))
                yield _frame(table, first), done
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise ArrowCsvUnreadable(str(exc)) from None


class _Limits:
    """What a file may hold (:mod:`policy_themes.limits`): decompressed bytes (of a compressed
    file of ``compressed_size`` bytes) and bytes in one row (the cell limit for each column:
    a longer row holds a longer cell)."""

    def __init__(self, path: Path, compressed_size: int | None, n_columns: int):
        self.path = path
        self.decompressed = None if compressed_size is None else \
            max_decompressed_bytes(compressed_size)
        self.row = max_cell_bytes() * max(n_columns, 1)

    def check_read(self, read: int) -> None:
        """Refuse ``read`` bytes decompressed, past the limit."""
        if self.decompressed is not None and read > self.decompressed:
            raise decompressed_too_big(self.path, self.decompressed)

    def check_row(self, open_row: int, rows_before: int) -> None:
        """Refuse a row still open after ``open_row`` bytes (the row after ``rows_before``
        rows), past the limit."""
        if open_row > self.row:
            raise cell_too_big(self.path, 2 + rows_before, None)


def _record_tables(stream, sep: str, names: list[str], read: list[int], limits: _Limits):
    """Arrow tables of the records of ``stream``, a block's whole records at a time, each with
    the bytes its records take; ``read[0]`` counts the bytes read."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    scanner = _QuoteScanner(sep)
    rows = 0
    parse = pa_csv.ParseOptions(delimiter=sep, newlines_in_values=True)
    convert = pa_csv.ConvertOptions(column_types={name: pa.large_string() for name in names},
                                    strings_can_be_null=True, null_values=[""],
                                    quoted_strings_can_be_null=True)
    carried: list[bytes] = []  # the start of a record that goes on in the next block
    first = True
    while True:
        data = stream.read(_BLOCK_BYTES)
        read[0] += len(data)
        limits.check_read(read[0])
        if not data:
            scanner.finish()
            records, carried = b"".join(carried), []
        elif cut := scanner.feed(data):
            records, carried = b"".join([*carried, data[:cut]]), [data[cut:]]
        else:
            records = b""
            carried.append(data)
        # (blank lines alone hold no rows, and Arrow refuses them)
        if _NOT_LINE_END.search(records):
            table = pa_csv.read_csv(
                pa.py_buffer(records),
                # all in one block: a record longer than Arrow's block is an error to it
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=len(records) + 1,
                                                column_names=None if first else names),
                parse_options=parse, convert_options=convert)
            if first and (table.schema.names != names or any(
                    field.type != pa.large_string() for field in table.schema)):
                raise ArrowCsvUnreadable("the header reads otherwise")
            first = False
            rows += table.num_rows
            yield table, len(records)
        limits.check_row(sum(map(len, carried)), rows)
        if not data:
            return


def _rechunked(tables, chunksize: int):
    """Tables regrouped into tables of ``chunksize`` rows (one chunk a column), each with its
    first row's position and the bytes its rows and those before take (of a table split
    between two chunks, a share by rows; the last chunk takes all, blank lines included)."""
    import pyarrow as pa

    pending: list = []
    held, given, taken = 0, 0, 0.0
    for table, size in tables:
        if not table.num_rows:
            taken += size
            continue
        pending.append((table, size))
        held += table.num_rows
        while held > chunksize:  # not the last chunk: it is given once the end is known
            whole = pa.concat_tables([t for t, _ in pending])
            rest = whole.slice(chunksize)
            rest_size = pending[-1][1] * rest.num_rows / pending[-1][0].num_rows
            taken += sum(size for _, size in pending) - rest_size
            yield whole.slice(0, chunksize).combine_chunks(), given, taken
            pending, held, given = [(rest, rest_size)], rest.num_rows, given + chunksize
    if held:
        yield pa.concat_tables([t for t, _ in pending]).combine_chunks(), given, float("inf")
    elif not given:
        raise ArrowCsvUnreadable("no rows")  # pandas says what is wrong with the table


class _QuoteScanner:
    """Follows a CSV file's quotes block by block, to find where its records end, and refuses
    what pandas and Arrow would read differently.

    A quote opens a quoted cell when it starts a cell (after the delimiter, a line end or
    another quote: ``""`` inside quotes), and the next one closes it; a line feed outside
    quotes ends a record.
    """

    def __init__(self, sep: str):
        self.starts = np.array([ord(sep), 10, 13, 34], dtype=np.uint8)
        self.quotes = 0  # quotes read so far: odd inside a quoted cell
        self.last = 10  # the byte read last (the file starts as after a line end)
        self.open_return = False  # the last byte was a carriage return outside quotes

    def feed(self, data: bytes) -> int:
        """Follow ``data``; return where its last record ends (0: no record ends in it).

        Raises
        ------
        ArrowCsvUnreadable
            A quote opens in the middle of a cell, or a carriage return outside quotes is
            not followed by a line feed.
        """
        codes = np.frombuffer(data, dtype=np.uint8)
        if self.open_return and codes[0] != 10:
            raise ArrowCsvUnreadable("a carriage return without a line feed")
        quotes = np.flatnonzero(codes == 34)
        opening = quotes[(self.quotes + np.arange(len(quotes))) % 2 == 0]
        if len(opening):
            before = codes[opening - 1]
            if opening[0] == 0:
                before[0] = self.last
            if not np.isin(before, self.starts).all():
                raise ArrowCsvUnreadable("a quote inside a cell")
        returns = np.flatnonzero(codes == 13)
        outside = returns[(self.quotes + np.searchsorted(quotes, returns)) % 2 == 0]
        self.open_return = bool(len(outside)) and outside[-1] == len(codes) - 1
        inner = outside[:-1] if self.open_return else outside
        if len(inner) and (codes[inner + 1] != 10).any():
            raise ArrowCsvUnreadable("a carriage return without a line feed")
        feeds = np.flatnonzero(codes == 10)
        feeds = feeds[(self.quotes + np.searchsorted(quotes, feeds)) % 2 == 0]
        self.quotes += len(quotes)
        self.last = int(codes[-1])
        return int(feeds[-1]) + 1 if len(feeds) else 0

    def finish(self) -> None:
        """The end of the file: refuse it inside quotes, or after a carriage return."""
        if self.quotes % 2:
            raise ArrowCsvUnreadable("a quote is left open")
        if self.open_return:
            raise ArrowCsvUnreadable("a carriage return without a line feed")


def _frame(table, first: int) -> pd.DataFrame:
    frame = table.to_pandas()
    for name in frame.columns:
        # pandas before 3 makes object columns, where read_csv's missing cells are NaN
        if frame[name].dtype == object and frame[name].hasnans:
            values = frame[name].to_numpy(copy=True)
            values[pd.isna(values)] = np.nan
            frame[name] = values
    frame.index = pd.RangeIndex(first, first + len(frame))
    return frame
