"""Shared fixtures: small real data in tests/data and paths to ../shared when it exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_themes.rules.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"
SEED = ROOT / "data" / "raw" / "foreign-policy-2017.txt"


@pytest.fixture(scope="session", autouse=True)
def user_data_folder(tmp_path_factory) -> Path:
    """The user data folder of every test (where `train` records the last trained model): a
    temporary one, never the user's own; commands run as subprocesses inherit it."""
    import os

    from policy_themes.model.locating import DATA_DIR_ENV

    folder = tmp_path_factory.mktemp("user-data")
    previous = os.environ.get(DATA_DIR_ENV)
    os.environ[DATA_DIR_ENV] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(DATA_DIR_ENV, None)
    else:
        os.environ[DATA_DIR_ENV] = previous


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


@pytest.fixture
def shared():
    """:func:`shared_file`: tests that read ../shared call it, and skip when it is absent."""
    return shared_file


TRAIN_SMALL = DATA / "train_small.csv"
TRAIN_CONFIG = DATA / "train_small.yaml"


@pytest.fixture(scope="session")
def train_small_path() -> Path:
    """About 90 labeled sentences of 4 themes in 13 documents (text, themes, doc_id)."""
    return TRAIN_SMALL


@pytest.fixture(scope="session")
def train_config_path() -> Path:
    """A fast training config: word n-grams and rule votes, 3-fold grouped cross-validation."""
    return TRAIN_CONFIG


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory) -> Path:
    """A model directory trained once per test session on train_small.csv.

    Tests must not modify it: copy it (``shutil.copytree``) before tampering.
    """
    from policy_themes.workflows.training import train

    model_dir = tmp_path_factory.mktemp("models") / "small"
    train([TRAIN_SMALL], config=TRAIN_CONFIG, model_dir=model_dir)
    return model_dir


@pytest.fixture
def model_copy(trained_model_dir, tmp_path) -> Path:
    """A private copy of the trained model directory, free to modify."""
    import shutil

    return Path(shutil.copytree(trained_model_dir, tmp_path / "model"))
