"""What the security tests share: running the command line on a hostile file and checking that
it was refused as promised (one ``Error:`` line, an exit code other than 0, nothing written).

Commands that could hang or need real process boundaries (argv bytes, stdin, a full disk) run
in a subprocess, with a generous ``timeout`` as the harness's wall limit (a hang fails the test
instead of stopping the suite; nothing is timed); the rest run in this process with typer's
``CliRunner``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import policy_themes
from policy_themes.cli import app

#: The wall limit of a subprocess: minutes, where the command needs seconds.
TIMEOUT = 300
SRC = Path(policy_themes.__file__).resolve().parents[1]


def run_cli(*args, cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None,
            timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run ``policy-themes ARGS`` (this checkout's code) in a subprocess, bytes in and out.

    ``args`` may hold bytes (an argument that is not valid UTF-8).
    """
    full_env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1", **(env or {})}
    command = [sys.executable, "-m", "policy_themes",
               *(a if isinstance(a, bytes) else str(a) for a in args)]
    return subprocess.run(command, cwd=cwd, env=full_env, input=stdin, capture_output=True,
                          timeout=timeout, check=False)


def invoke(*args, env: dict[str, str] | None = None):
    """Run ``policy-themes ARGS`` in this process (typer's CliRunner)."""
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and folder under ``folder`` with its bytes (folders as a marker)."""
    return {str(p.relative_to(folder)): b"<folder>" if p.is_dir() else p.read_bytes()
            for p in sorted(folder.rglob("*"))}


def error_line(exit_code: int, stdout: str, stderr: str) -> str:
    """The one ``Error:`` line of a refused command, after checking the promise: an exit code
    other than 0, no traceback, nothing else on stderr, nothing on stdout."""
    assert exit_code not in (0, None), (exit_code, stdout, stderr)
    assert "Traceback" not in stdout + stderr, stderr
    assert stdout == "", stdout
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


def refused(result) -> str:
    """:func:`error_line` of a CliRunner result or a CompletedProcess."""
    if isinstance(result, subprocess.CompletedProcess):
        return error_line(result.returncode, result.stdout.decode("utf-8", "replace"),
                          result.stderr.decode("utf-8", "replace"))
    assert isinstance(result.exception, SystemExit), result.exception
    return error_line(result.exit_code, result.stdout, result.stderr)
