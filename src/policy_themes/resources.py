"""Locate the files the package ships: the default configs and the default training data.

A built wheel carries ``configs/`` and ``data/`` inside the package; an editable install or a
source checkout reads them from the repository's top level.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["resource_path", "describe_data_files"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_path(relative: str) -> Path:
    """Return the path of a shipped resource such as ``configs/themes.yaml``.

    Parameters
    ----------
    relative : str
        Path below the repository's top level (``configs/...`` or ``data/...``).

    Returns
    -------
    Path
        The packaged copy when the package was installed from a wheel, else the checkout's file.
        The path is returned even when the file is absent, so callers can name it in errors.
    """
    packaged = _PACKAGE_DIR / relative
    if packaged.exists():
        return packaged
    checkout = _PACKAGE_DIR.parents[1] / relative
    return checkout if checkout.exists() else packaged


def describe_data_files(files, sentences: int | None = None) -> str:
    """Name training data files for a person: the files the package ships are "the shipped
    data", not their paths inside site-packages.

    Parameters
    ----------
    files : iterable of str or Path
        The data files, as recorded in a model's metadata.
    sentences : int, default=None
        How many sentences they gave, added in brackets.

    Returns
    -------
    str
        For example ``the shipped data (11,096 sentences)`` or
        ``the shipped data, mine.csv (11,120 sentences)``.
    """
    shipped_dir = resource_path("data/labeled").resolve()
    names, shipped = [], False
    for file in files:
        if Path(file).resolve().parent == shipped_dir:
            shipped = True
        else:
            names.append(str(file))
    described = ", ".join((["the shipped data"] if shipped else []) + names) or "none recorded"
    return f"{described} ({sentences:,} sentences)" if sentences is not None else described
