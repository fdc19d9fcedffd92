"""Read documents as text: encodings and byte-order marks, binary files refused, gzip inputs
bounded in what they expand to."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

from policy_themes.errors import DataError
from policy_themes.io.formats import is_text_document
from policy_themes.limits import (
    decompressed_too_big,
    max_decompressed_bytes,
)

__all__ = ["collect_documents", "read_document", "decode_text", "check_text", "HEAD_BYTES",
           "capped_gzip", "decode_failure", "first_bad_byte", "is_gzip", "is_utf8", "read_failure",
           "refuse_binary", "refuse_gzip_bomb", "resolve_encoding"]

HEAD_BYTES = 8192


# byte-order marks, longest first (a UTF-32-LE mark starts with the UTF-16-LE one)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


_MAGIC = ((b"\x1f\x8b", "a gzip-compressed file (name it with a .gz ending)"),
          (b"PAR1", "a Parquet file (name it .parquet)"),
          (b"PK\x03\x04", "a ZIP archive or an Excel workbook (save the sheet as CSV)"),
          (b"%PDF", "a PDF document"),
          (b"\x89PNG", "a PNG image"))


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
        raise DataError(read_failure(path, exc)) from None
    return decode_text(raw, path, encoding=encoding)


def decode_text(raw: bytes, source: str | Path, *, encoding: str | None = None) -> str:
    """Decode the bytes of a document (a file's, standard input's) as :func:`read_document`
    does: UTF-8 (with or without BOM) or UTF-16 with a BOM unless ``encoding`` says otherwise.

    Raises
    ------
    DataError
        If the bytes are not valid text in that encoding, or look binary; the message names
        ``source``, the first bad byte and its line.
    """
    encoding = resolve_encoding(raw[:HEAD_BYTES], encoding, source)
    refuse_binary(raw[:HEAD_BYTES], encoding, source, "a text document")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(decode_failure(source, encoding, raw[exc.start], line)) from None
    if "\x00" in text:
        raise DataError(f"{source}: holds NUL bytes; it looks like a binary file, not text")
    return text


def check_text(text: str, source: str) -> str:
    """Refuse text that is not valid Unicode: a command-line argument whose bytes were not
    UTF-8 reaches Python as lone surrogates (``\\udcff`` for the byte 0xff).

    Raises
    ------
    DataError
        Naming ``source`` and the first byte that is not UTF-8.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = ord(text[exc.start])
        byte = f"byte {char - 0xDC00:#04x}" if 0xDC80 <= char <= 0xDCFF else f"{char:#06x}"
        raise DataError(f"{source}: not valid UTF-8 text ({byte}); give text in UTF-8") \
            from None
    return text


def resolve_encoding(head: bytes, encoding: str | None, path: Path) -> str:
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
    except (LookupError, UnicodeEncodeError):  # (a name that is not valid text itself)
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


def refuse_binary(head: bytes, encoding: str, path: Path, kind: str) -> None:
    """Refuse a file whose first bytes show it is binary, not text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise DataError(f"{path}: this is {what}, not {kind}")
    if b"\x00" in head and not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        raise DataError(f"{path}: holds NUL bytes, so it looks like a binary file, not {kind} "
                        "(if it is UTF-16 text without a byte-order mark, pass --encoding "
                        "utf-16-le)")


def decode_failure(path: Path, encoding: str, byte: int, line: int | None) -> str:
    """The message for text that does not decode: where, and the --encoding to try."""
    name = "UTF-8" if is_utf8(encoding) else encoding
    where = f"byte {byte:#04x}" + (f" on line {line}" if line else "")
    return (f"{path}: not valid {name} text ({where}); pass --encoding with the file's "
            "encoding, e.g. --encoding cp1252 for Windows or Latin-1 text")


def first_bad_byte(path: Path, encoding: str) -> tuple[int, int | None]:
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


def read_failure(path: Path, exc: BaseException) -> str:
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        return f"{path}: not a valid gzip file ({exc or type(exc).__name__})"
    return f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"


def _open_binary(path: Path):
    """Open a file for binary reading, transparently decompressing ``.gz`` (up to the limit of
    :func:`~policy_themes.limits.max_decompressed_bytes`)."""
    if is_gzip(path):
        refuse_gzip_bomb(path)
        return capped_gzip(open(path, "rb"), path, close_raw=True)
    return open(path, "rb")


def refuse_gzip_bomb(path: Path) -> None:
    """Refuse at once a ``.gz`` file whose trailer says it decompresses past its limit (the
    trailer holds the size modulo 4 GiB, and may lie: :class:`_CappedGzip` counts the bytes
    as they come all the same)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size < 18:  # not a gzip file: reading it says so
                return
            handle.seek(-4, os.SEEK_END)
            stated = int.from_bytes(handle.read(4), "little")
    except OSError:
        return  # reading it says what is wrong
    limit = max_decompressed_bytes(size)
    if stated > limit and _starts_as_gzip(path):
        raise decompressed_too_big(path, limit, stated)


def _starts_as_gzip(path: Path) -> bool:
    """Whether the file's first bytes decompress (a damaged file's trailer says nothing: reading
    it reports the damage)."""
    try:
        with gzip.open(path, "rb") as handle:
            handle.read(1)
    except (OSError, EOFError, zlib.error):
        return False
    return True


class _CappedGzip(io.RawIOBase):
    """The decompressed bytes of a ``.gz`` file, refusing to give more than
    :func:`~policy_themes.limits.max_decompressed_bytes` for its size: a gzip bomb (1 MB that
    decompresses to 1 GB) stops at the limit with a :class:`DataError`."""

    def __init__(self, raw, path: Path, *, close_raw: bool):
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw)
        self._path = path
        self._close_raw = close_raw
        self._limit = max_decompressed_bytes(os.fstat(raw.fileno()).st_size)
        self._given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._gzip.readinto(buffer)
        self._given += count
        if self._given > self._limit:
            raise decompressed_too_big(self._path, self._limit)
        return count

    def close(self) -> None:
        if not self.closed:
            self._gzip.close()
            if self._close_raw:
                self._raw.close()
        super().close()


def capped_gzip(raw, path: Path, *, close_raw: bool = False) -> io.BufferedReader:
    return io.BufferedReader(_CappedGzip(raw, path, close_raw=close_raw), buffer_size=1 << 16)


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
