"""Write files atomically: tables a chunk at a time, text, and the folders a run writes into
(nothing half-written where a good file was)."""

from __future__ import annotations

import contextlib
import csv
import glob
import gzip
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from policy_themes.errors import DataError
from policy_themes.io.decoding import is_gzip
from policy_themes.io.formats import file_format
from policy_themes.io.tables import TABLE_FORMATS

__all__ = ["AtomicTableWriter", "table_sink", "atomic_write_text", "atomic_path", "check_writable",
           "process_alive", "free_names"]

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
        self._staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> AtomicTableWriter:
        self._tmp = atomic_path(self.path)
        if self.format != "parquet":
            opener = gzip.open if is_gzip(self.path) else open
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

    def add_text(self, path: str | Path, text: str) -> None:
        """Write ``text`` to a temporary file beside ``path``, moved into place right after
        the table: if either cannot be written, neither is left in place (a report and the
        table it describes, say).

        Raises
        ------
        DataError
            If the text cannot be written (a full disk).
        """
        _stage_text(self._staged, path, text)

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
                _move_staged(self._staged, [self.path])
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
        for path in [self._tmp, *(tmp for tmp, _ in self._staged)]:
            with contextlib.suppress(OSError):
                path.unlink()


def _stage_text(staged: list[tuple[Path, Path]], path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and note the pair in ``staged``."""
    target = Path(path)
    tmp = atomic_path(target)
    staged.append((tmp, target))
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{target}: cannot write ({exc.strerror or exc})") from None


def _move_staged(staged: list[tuple[Path, Path]], moved: list[Path]) -> None:
    """Move the staged texts into place; if one cannot be, remove those moved already (and
    ``moved``, the files they go with) and raise the OSError."""
    for tmp, target in staged:
        try:
            os.replace(tmp, target)
        except OSError:
            for path in moved:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        moved.append(target)
    staged.clear()


def _dictionary_columns(table) -> list[str]:
    """The columns worth a dictionary in Parquet, judged on the first chunk: all but strings
    mostly different from each other (sentences, top-k cells), whose dictionary Arrow would
    build for every row group only to drop it."""
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
    """Stands in for a writer when no table is wanted; texts added are written together."""

    rows = 0

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> _NullWriter:
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Discard the chunk."""

    def add_text(self, path: str | Path, text: str) -> None:
        """Write ``text`` to a temporary file beside ``path``, moved into place with the other
        texts when the block ends well."""
        _stage_text(self._staged, path, text)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                _move_staged(self._staged, [])
                return
            except OSError as error:
                raise DataError(f"cannot write ({error.strerror or error})") from None
            finally:
                self._discard()
        self._discard()

    def _discard(self) -> None:
        for tmp, _ in self._staged:
            with contextlib.suppress(OSError):
                tmp.unlink()


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
