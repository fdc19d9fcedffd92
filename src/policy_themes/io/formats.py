"""File formats by extension: which the package reads and writes, and which are text documents.

Kept apart from :mod:`.data` (which imports pandas) so that a command can tell what its inputs are
before it imports anything heavy (:mod:`.workers` does, to get the workers ready).
"""

from __future__ import annotations

from pathlib import Path

from policy_themes.errors import DataError

__all__ = ["SUFFIX_FORMATS", "file_format", "is_text_document"]

SUFFIX_FORMATS = {
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
    fmt = SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        known = ", ".join(sorted(SUFFIX_FORMATS))
        raise DataError(f"{path}: unknown file type (use one of {known}, optionally .gz)")
    return fmt


def is_text_document(path: str | Path) -> bool:
    """Whether ``path`` names a text document (``.txt``, ``.text``, optionally ``.gz``): one
    that is split into sentences."""
    try:
        return file_format(path) == "txt"
    except DataError:
        return False
