"""The ``policy-themes`` command line: a thin layer over the Python API.

Each command lives in its own module and adds itself to :data:`app` when imported, in the
order of :data:`COMMANDS` (the order ``--help`` lists them); a command parses its arguments,
calls one library function and prints what it returns.
"""

import importlib

from policy_themes.cli.app import app
from policy_themes.cli.common import handle_errors

__all__ = ["app", "handle_errors", "COMMANDS"]

COMMANDS = ("label", "train", "predict", "evaluate", "profile", "info", "export", "codebook",
            "loop")

for _command in COMMANDS:
    importlib.import_module(f"{__name__}.{_command}")
