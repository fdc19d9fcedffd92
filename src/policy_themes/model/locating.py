"""Which model a command uses when none is named: ``models/default`` here, else the model the
user trained last (recorded by ``policy-themes train`` in the user's data folder).

The record is a small JSON file, ``last-model.json``, in the user data folder of
``platformdirs`` (``~/.local/share/policy-themes`` on Linux); the environment variable
``POLICY_THEMES_DATA_DIR`` names another folder (tests use it). A damaged record is ignored
with a warning.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from policy_themes.errors import ModelError

__all__ = ["DEFAULT_MODEL_DIR", "DATA_DIR_ENV", "ChosenModel", "user_data_dir",
           "last_model_file", "record_trained_model", "last_trained_model", "find_model"]

DEFAULT_MODEL_DIR = Path("models/default")
DATA_DIR_ENV = "POLICY_THEMES_DATA_DIR"
_RECORD = "last-model.json"


@dataclass(frozen=True)
class ChosenModel:
    """The model a command uses, and why: ``source`` is ``"default"`` (``models/default`` of
    the working folder) or ``"last trained"``."""

    path: Path
    source: str


def user_data_dir() -> Path:
    """The folder of the user's policy-themes data: ``$POLICY_THEMES_DATA_DIR``, else the
    platform's user data folder."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("policy-themes", appauthor=False))


def last_model_file() -> Path:
    """Where the path of the last trained model is recorded."""
    return user_data_dir() / _RECORD


def record_trained_model(model_dir: str | Path) -> Path:
    """Record ``model_dir`` (made absolute) as the user's last trained model.

    Parameters
    ----------
    model_dir : str or Path
        The model directory ``train`` wrote.

    Returns
    -------
    Path
        The record file, written atomically.

    Raises
    ------
    DataError
        If the user data folder cannot be created or written.
    """
    from policy_themes.errors import DataError
    from policy_themes.io.writers import atomic_write_text

    record = last_model_file()
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{record.parent}: cannot create the user data folder "
                        f"({exc.strerror or exc})") from None
    text = json.dumps({"model_dir": str(Path(model_dir).resolve())}, indent=2) + "\n"
    atomic_write_text(record, text)
    return record


def last_trained_model() -> Path | None:
    """The model directory ``train`` recorded last (it may have been removed since), or None
    when nothing is recorded; a damaged record is ignored with a warning."""
    record = last_model_file()
    if not record.is_file():
        return None
    try:
        path = json.loads(record.read_text(encoding="utf-8"))["model_dir"]
        if not isinstance(path, str) or not path:
            raise ValueError("no model_dir")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"{record}: ignored, it is damaged ({type(exc).__name__}); the next "
                      "`policy-themes train` rewrites it", stacklevel=2)
        return None
    return Path(path)


def find_model(default: str | Path = DEFAULT_MODEL_DIR) -> ChosenModel:
    """The model to use when none was named: ``default`` if it exists, else the last trained.

    Raises
    ------
    ModelError
        If neither exists; the message names ``--model-dir`` and ``POLICY_THEMES_MODEL``.
    """
    default = Path(default)
    if default.exists():
        return ChosenModel(default, "default")
    last = last_trained_model()
    if last is not None and last.exists():
        return ChosenModel(last, "last trained")
    last_note = (f"the last trained model, {last}, is gone" if last is not None
                 else "no model was trained on this machine before")
    raise ModelError(f"no model at {default}, and {last_note}; name one with --model-dir DIR "
                     "(or set POLICY_THEMES_MODEL=DIR), or train one with `policy-themes train`")
