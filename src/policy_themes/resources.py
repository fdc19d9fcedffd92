"""Locate the files the package ships: the default configs and the default training data.

A built wheel carries ``configs/`` and ``data/`` inside the package; an editable install or a
source checkout reads them from the repository's top level.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["resource_path"]

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
