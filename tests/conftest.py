"""Shared fixtures: small real data in tests/data and paths to ../shared when it exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_themes.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"
SEED = ROOT / "data" / "raw" / "foreign-policy-2017.txt"


@pytest.fixture(scope="session")
def taxonomy():
    """The default taxonomy shipped with the package."""
    return load_taxonomy()


@pytest.fixture
def seed_path() -> Path:
    """The seed statement shipped as the example document."""
    return SEED


@pytest.fixture
def data_dir() -> Path:
    return DATA


def shared_file(relative: str) -> Path:
    """A file of ../shared, or skip the test when the folder is not there."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path
