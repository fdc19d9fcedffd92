import csv
import gzip
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_themes.errors import DataError
from policy_themes.io import arrow_csv
from policy_themes.io.arrow_csv import ArrowCsvUnreadable, header_names, iter_csv_chunks
from policy_themes.io.tables import iter_table

TRICKY = 'ab ,"\n\r\té€\x00'


def _write(path, data: bytes):
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _csv_bytes(rows, *, quoting=csv.QUOTE_MINIMAL, newline="\n", sep=",") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, quoting=quoting, lineterminator=newline, delimiter=sep).writerows(rows)
    return out.getvalue().encode("utf-8")


def _pandas_chunks(path, chunksize):
    return list(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                            chunksize=chunksize))


def _outcome(path, chunksize):
    try:
        return [chunk for chunk in iter_table(path, chunksize=chunksize)]
    except DataError as exc:
        return str(exc)


def _assert_same(got, want):
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return
    assert len(got) == len(want)
    for a, b in zip(got, want):
        pd.testing.assert_frame_equal(a, b)


def _without_arrow(monkeypatch):
    monkeypatch.setattr(arrow_csv, "header_names", lambda head, sep: None)


@pytest.mark.parametrize("head, names", [
    ("a,b\n1,2\n", ["a", "b"]),
    ("\ufeffdoc_id,text\r\nx,y\r\n", ["doc_id", "text"]),
    ('"a,1","b\nc"\n1,2\n', ["a,1", "b\nc"]),
    ("a,b\n", None),  # the head may end inside the header
    ("a,b", None),
    ("a,a\n1,2\n", None),  # pandas renames the second a
    ("a,,b\n1,2,3\n", None),  # pandas names the empty one
    ('"a"b,c\n1,2\n', None),
    ("", None),
])
def test_header_names_only_when_pandas_keeps_them(head, names):
    assert header_names(head, ",") == names


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("chunksize", [1, 2, 3, 100])
@pytest.mark.parametrize("block", [1, 7, 1 << 20])  # records cut across blocks, or not
def test_chunks_are_pandas_chunks(tmp_path, monkeypatch, suffix, chunksize, block):
    monkeypatch.setattr(arrow_csv, "_BLOCK_BYTES", block)
    rows = [["doc_id", "text", "year"], ["a", 'He said "no", twice.\nThen left.', "1990"],
            ["b", "", "1991"], ["", "Crème brûlée €", ""], ["d", "ends with CR\r\n", "x"],
            ["e", "  spaces  ", "NA"]]
    path = _write(tmp_path / f"t{suffix}", _csv_bytes(rows, newline="\r\n"))
    got = list(iter_csv_chunks(path, sep=",", names=rows[0], chunksize=chunksize,
                               compressed=suffix.endswith(".gz")))
    want = _pandas_chunks(path, chunksize)
    _assert_same([frame for frame, _ in got], want)
    read = [done for _, done in got]
    assert read == sorted(read) and 0.75 * path.stat().st_size <= read[-1] <= path.stat().st_size


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_how_far_the_rows_go_not_how_far_was_read(tmp_path, suffix):
    rows = [["doc_id", "text"]] + [[f"d{i}", f"Sentence {i} on gas and borders."]
                                   for i in range(100_000)]
    path = _write(tmp_path / f"t{suffix}", _csv_bytes(rows))
    given = 0
    for frame, done in iter_csv_chunks(path, sep=",", names=rows[0], chunksize=10_000,
                                       compressed=suffix.endswith(".gz")):
        given += len(frame)
        assert done / path.stat().st_size == pytest.approx(given / 100_000, abs=0.05)


@pytest.mark.parametrize("data", [
    b"a,b\n1,2\n3\n", b"a,b\n1,2,3\n", b'a,b\n"1,2\n', b"a,b\n1,2\n   \n", b"a,b\n",
    b"a,b\n1,\xff\n",
    b'a,b\n1,"2\n3,4\n',  # Arrow runs the open quote to the end of the file
    b'a,b\n1,x"y\n',  # a stray quote: pandas reads it as Arrow does, but it cannot be told
    b"a,b\r1,2\r",  # from one left open; and carriage returns alone
    b"a,b\n\r,a\n",
])
def test_what_pandas_reads_otherwise_is_left_to_it(tmp_path, data):
    path = _write(tmp_path / "t.csv", data)
    with pytest.raises(ArrowCsvUnreadable):
        list(iter_csv_chunks(path, sep=",", names=["a", "b"], chunksize=10, compressed=False))


def _scan(data: bytes, size: int) -> list[int]:
    """Feed ``data`` to a scanner ``size`` bytes at a time: where records end, as offsets."""
    scanner, ends = arrow_csv._QuoteScanner(","), []
    for at in range(0, len(data), size):
        cut = scanner.feed(data[at:at + size])
        if cut:
            ends.append(at + cut)
    scanner.finish()
    return ends


@pytest.mark.parametrize("size", [1, 2, 3, 64])
def test_the_scanner_ends_records_at_line_feeds_outside_quotes(size):
    data = b'a,"x\r\ny"\r\n"",b\n1,"2 ""q"" 3\n4"\n'
    ends = _scan(data, size)
    assert ends[-1] == len(data)
    every = [i + 1 for i in range(len(data)) if data[i:i + 1] == b"\n"]
    assert set(ends) <= {every[1], every[2], every[4]}  # not the ones inside quotes
    if size == 1:
        assert ends == [every[1], every[2], every[4]]


@pytest.mark.parametrize("data", [b"a,b\rc\n", b"a,b\r", b"a,b\r\rc\n", b'a,x"y\n',
                                  b'a,"x"y"\n', b'a,"x\n', b' "a",b\n'])
@pytest.mark.parametrize("size", [1, 3, 64])
def test_the_scanner_refuses_what_pandas_reads_otherwise(data, size):
    with pytest.raises(ArrowCsvUnreadable):
        _scan(data, size)


def test_a_damaged_gzip_is_not_read_as_a_shorter_table(tmp_path):
    data = gzip.compress(_csv_bytes([["a", "b"]] + [[str(i), "x"] for i in range(5000)]))
    path = tmp_path / "t.csv.gz"
    path.write_bytes(data[:-12])
    with pytest.raises(ArrowCsvUnreadable):
        list(iter_csv_chunks(path, sep=",", names=["a", "b"], chunksize=100, compressed=True))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_pandas_reads_on_from_where_arrow_cannot(tmp_path, monkeypatch, suffix):
    # row 250 is short: pandas fills it, Arrow refuses it after giving the first chunks
    rows = [["doc_id", "text"]] + [[f"d{i}", f"text {i}"] for i in range(400)]
    lines = _csv_bytes(rows).decode().splitlines(keepends=True)
    lines[250] = "d249\n"
    path = _write(tmp_path / f"t{suffix}", "".join(lines).encode())
    got = _outcome(path, 100)
    _without_arrow(monkeypatch)
    _assert_same(got, _outcome(path, 100))
    assert got[2]["text"].isna().sum() == 1


@pytest.mark.parametrize("data", [
    b"a,b\n1,2,3\n4,5\n",  # a first row too long: pandas makes an index of it
    b"a,b\n1,2\n" * 300 + b"1,2,3\n",
    b'a,b\n1,2\n"3,4\n',
    b"a,b\n1,\x002\n",
    b"a,b\n1,\xff\n",
    b"a,b\n",
])
def test_the_same_errors_as_pandas_alone(tmp_path, monkeypatch, data):
    path = _write(tmp_path / "t.csv", data)
    got = _outcome(path, 100)
    _without_arrow(monkeypatch)
    assert isinstance(got, str)
    assert got == _outcome(path, 100)


cells = st.text(alphabet=TRICKY, max_size=8)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(cells, min_size=2, max_size=2), min_size=1, max_size=12),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       newline=st.sampled_from(["\n", "\r\n"]), chunksize=st.integers(1, 5),
       cut=st.one_of(st.none(), st.integers(0, 400)),
       extra=st.sampled_from(["", "<sep>", '"', "\n"]), block=st.sampled_from([1, 5, 64, 1 << 20]),
       suffix=st.sampled_from([".csv", ".tsv"]))
def test_iter_table_reads_what_pandas_alone_reads(tmp_path_factory, rows, quoting, newline,
                                                  chunksize, cut, extra, block, suffix):
    sep = "," if suffix == ".csv" else "\t"
    data = _csv_bytes([["doc_id", "text"]] + rows, quoting=quoting, newline=newline,
                      sep=sep).decode()
    if cut is not None:  # a stray delimiter, quote or line break somewhere after the header
        at = len("doc_id,text") + 1 + cut % max(len(data) - len("doc_id,text"), 1)
        data = data[:at] + extra.replace("<sep>", sep) + data[at:]
    path = _write(tmp_path_factory.mktemp("t") / f"t{suffix}", data.encode())
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(arrow_csv, "_BLOCK_BYTES", block)  # records cut across blocks
        got = _outcome(path, chunksize)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _without_arrow(monkeypatch)
        want = _outcome(path, chunksize)
    _assert_same(got, want)


def test_a_utf8_byte_order_mark_is_read_past(tmp_path, monkeypatch):
    path = _write(tmp_path / "t.csv", b'\xef\xbb\xbfdoc_id,text\r\na,"x, y"\r\nb,z\r\n')
    got = _outcome(path, 1)
    assert list(got[0].columns) == ["doc_id", "text"]
    _without_arrow(monkeypatch)
    _assert_same(got, _outcome(path, 1))


def test_a_cell_longer_than_arrows_blocks(tmp_path):
    # Arrow refuses a record that spans more than two of its blocks (16 MB by default): each
    # block of records is parsed as one block
    big = 'a line, "quoted"\n' * 2_000_000  # 38 MB once quoted
    path = _write(tmp_path / "t.csv", _csv_bytes([["doc_id", "text"], ["a", big], ["b", "x"]]))
    got = [frame for frame, _ in iter_csv_chunks(path, sep=",", names=["doc_id", "text"],
                                                 chunksize=1, compressed=False)]
    _assert_same(got, _pandas_chunks(path, 1))
    assert len(got[0]["text"].iloc[0]) == len(big)
