"""Clean ends: SIGTERM ends a run as Ctrl-C does, and a Numba cache that cannot be used is given up.

Real ``policy-themes`` processes: SIGTERM (what ``kill``, a process manager or a batch scheduler
sends) to ``predict`` or ``label`` running worker processes exits with 143 after the same
clean-up as Ctrl-C: no worker and no fork server left, no output and no temporary file written.
A Numba cache holding garbage, one whose files cannot be read or written, and no folder to cache
in at all each give one warning and the right output, where they used to fail every run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SRC = Path(__file__).resolve().parents[2] / "src"
SENTENCES = [
    "The two governments signed an agreement on the supply of natural gas, round {i}.",
    "The embassy is providing consular assistance to citizens affected by event {i}.",
    "The ministry strongly condemns the terrorist attack number {i} in the capital.",
    "The meeting {i} took place in a warm and constructive atmosphere.",
]


def environment(**changes: str) -> dict[str, str]:
    """This environment, running the package from this checkout, with ``changes``."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "NO_COLOR": "1", "PYTHONPATH": path, **changes}


def start(*args, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    # its own session, and a default SIGINT, as tests/reliability/test_interrupts.py does
    return subprocess.Popen([sys.executable, "-m", "policy_themes", *map(str, args)], cwd=cwd,
                            env=env or environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """60,000 sentences: long enough to be stopped while the workers are busy."""
    path = tmp_path_factory.mktemp("term") / "sentences.csv"
    pd.DataFrame({"text": [SENTENCES[i % 4].format(i=i) for i in range(60_000)]}).to_csv(
        path, index=False)
    return path


def running_workers(proc: subprocess.Popen, cwd: Path, timeout: float = 300) -> list:
    """The run's descendants once it has at least two (a fork server and a worker) and has
    started its output's temporary file."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be stopped"
        children = parent.children(recursive=True)
        if len(children) >= 2 and any(cwd.glob(".out.csv.*.tmp")):
            return children
        time.sleep(0.02)
    raise AssertionError("the run never started its workers")


@pytest.mark.parametrize(("command", "to", "cold"), [
    ("predict", "process", False), ("label", "process", False),
    ("predict", "process group", False), ("predict", "process", True)])
def test_sigterm_ends_workers_and_writes_nothing(tmp_path, tmp_path_factory, table,
                                                 trained_model_dir, command, to, cold):
    """SIGTERM to the command (as ``kill`` sends it), or to its whole process group (as some
    process managers do: the workers leave it to the command). With an empty Numba cache
    (``cold``) the workers start slowly, so one is still being forked when the run ends."""
    args = {"predict": ["predict", "-m", trained_model_dir, "--input", table],
            "label": ["label", table, "--no-rules"]}[command]
    env = environment(NUMBA_CACHE_DIR=str(tmp_path_factory.mktemp("cold"))) if cold else None
    proc = start(*args, "--out", "out.csv", "--jobs", "2", "--chunk-size", "500", cwd=tmp_path,
                 env=env)
    try:
        children = running_workers(proc, tmp_path)
        if to == "process":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=300)  # a hang fails here, not for ever
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    [line] = stderr.splitlines()
    assert line.startswith("Terminated ") and line.endswith("nothing was written to out.csv")
    _, alive = psutil.wait_procs(children, timeout=60)
    assert alive == [], [p.cmdline() for p in alive]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- Numba's cache ---------------------------------------------------------------------------


def predict_once(model_dir: Path, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policy_themes", "predict", "-m", model_dir,
                           SENTENCES[0].format(i=1), "--format", "csv"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory, trained_model_dir) -> tuple[Path, str]:
    """A Numba cache filled by one run, and what that run printed."""
    cache = tmp_path_factory.mktemp("numba") / "cache"
    result = predict_once(trained_model_dir, cache.parent,
                          environment(NUMBA_CACHE_DIR=str(cache)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert list(cache.rglob("*.nbi")), "nothing was cached"
    return cache, result.stdout


def assert_one_cache_warning(result: subprocess.CompletedProcess, expected_stdout: str) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("Warning: Numba's cache"), line
    assert "cannot be used" in line and "compiling in memory" in line


def test_a_cache_of_garbage_falls_back_to_memory(tmp_path, filled_cache, trained_model_dir):
    source, expected = filled_cache
    cache = Path(shutil.copytree(source, tmp_path / "cache"))
    for path in cache.rglob("*.nb[ic]"):
        path.write_bytes(b"garbage\n")
    result = predict_once(trained_model_dir, tmp_path, environment(NUMBA_CACHE_DIR=str(cache)))
    assert_one_cache_warning(result, expected)


def test_a_cache_that_cannot_be_read_or_written_falls_back_to_memory(tmp_path, filled_cache,
                                                                      trained_model_dir):
    source, expected = filled_cache
    cache = Path(shutil.copytree(source, tmp_path / "cache"))
    for path in cache.rglob("*.nbi"):  # an index that can be neither opened nor replaced
        path.unlink()
        path.mkdir()
    result = predict_once(trained_model_dir, tmp_path, environment(NUMBA_CACHE_DIR=str(cache)))
    assert_one_cache_warning(result, expected)


def test_nowhere_to_cache_falls_back_to_memory(tmp_path, filled_cache, trained_model_dir):
    """NUMBA_CACHE_DIR, the package's own folders and the user's cache folder all unusable (here
    by a file where each folder would be: the tests may run as root, whom permissions do not
    stop): Numba used to fail the import."""
    _, expected = filled_cache
    tree = tmp_path / "tree"
    shutil.copytree(SRC / "policy_themes", tree / "policy_themes",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [tree, *[p for p in tree.rglob("*") if p.is_dir()]]:
        (folder / "__pycache__").write_bytes(b"")
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    env = environment(PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(blocked / "numba"),
                      XDG_CACHE_HOME=str(blocked / "cache"), HOME=str(blocked / "home"))
    assert_one_cache_warning(predict_once(trained_model_dir, tmp_path, env), expected)
