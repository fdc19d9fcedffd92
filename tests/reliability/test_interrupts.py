"""Nothing is lost: real ``policy-themes`` processes interrupted mid-run (SIGINT, SIGKILL).

An interrupted ``label`` or ``predict`` leaves an earlier output byte-identical and says how far
it got; a killed one leaves at most its own temporary file, which the next run removes. An
interrupted or killed ``train`` leaves the earlier model directory as it was, and two runs into
one directory never mix: the second is refused while the first holds the lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from policy_themes.io.checksums import file_sha256
from policy_themes.io.writers import AtomicTableWriter
from policy_themes.model.store import META_FILE, MODEL_FILE
from policy_themes.model.theme_model import load_model

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

BIG_ROWS = 300_000
OLD = b"doc_id,text\nold,An earlier good output that must survive.\n"
SENTENCES = [
    "The two governments signed an agreement on the supply of natural gas, round {i}.",
    "The embassy is providing consular assistance to citizens affected by event {i}.",
    "The ministry strongly condemns the terrorist attack number {i} in the capital.",
    "The meeting {i} took place in a warm and constructive atmosphere.",
]
INTERRUPTED = re.compile(r"Interrupted after ([\d,]+) of ~([\d,]+) sentences; nothing was "
                         r"written to (.+)")


def _command() -> list[str]:
    script = Path(sys.executable).parent / "policy-themes"
    return [str(script)] if script.exists() else [sys.executable, "-m", "policy_themes"]


def _default_sigint() -> None:
    # a job started in the background by a non-interactive shell (as CI may be) inherits an
    # ignored SIGINT, and Python then never raises KeyboardInterrupt: give the child a real one
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _session_processes(session: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes of a session, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            state, _, _, sid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
            if int(sid) == session and state != "Z":
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found.append((int(entry.name), command.decode(errors="replace")))
    return found


def end_session(session: int) -> None:
    """Kill what a run left in its session (orphaned worker processes, a fork server).

    Its multiprocessing resource tracker is left to exit by itself: once every process that
    used it is gone it removes their named semaphores from /dev/shm, which killing it too would
    leak. Where there is no /proc, the whole session is killed.
    """
    trackers = []
    if Path("/proc/self/stat").exists():
        for pid, command in _session_processes(session):
            if "resource_tracker" in command:
                trackers.append(pid)
            else:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while trackers and time.monotonic() < deadline:
            alive = {pid for pid, _ in _session_processes(session)}
            trackers = [pid for pid in trackers if pid in alive]
            time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session, signal.SIGKILL)


def start(*args, cwd: Path) -> subprocess.Popen:
    """Start the installed command in its own session (so helpers it spawns can be cleaned)."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen([*_command(), *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Poll until ``condition()`` holds; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("the run never got there")


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Wait for the process, then end whatever it left running in its session."""
    try:
        proc.wait(timeout=60)
    finally:
        end_session(proc.pid)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def temporary_size(folder: Path, name: str, pid: int) -> int:
    """Bytes written so far to the run's temporary file for ``name`` (0 if none yet)."""
    sizes = [p.stat().st_size for p in folder.glob(f".{name}.{pid}.*.tmp") if p.is_file()]
    return max(sizes, default=0)


def model_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def big_table(tmp_path_factory) -> Path:
    """A 300,000-sentence table: labeling or predicting it lasts a few seconds."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    texts = [SENTENCES[i % 4].format(i=i) for i in range(BIG_ROWS)]
    pd.DataFrame({"text": texts}).to_csv(path, index=False)
    return path


def _batch_args(command: str, big: Path, model: Path) -> list[str]:
    """label with its default worker pool; predict in one process (a pool would first send the
    model to every worker, which only makes the test slower)."""
    if command == "label":
        return ["label", str(big), "--out", "out.csv", "--no-rules"]
    return ["predict", "-m", str(model), "--input", str(big), "--out", "out.csv", "-j", "1"]


@pytest.mark.parametrize("command", ["label", "predict"])
def test_ctrl_c_keeps_the_old_output_and_says_how_far_it_got(tmp_path, big_table,
                                                             trained_model_dir, command):
    out = tmp_path / "out.csv"
    out.write_bytes(OLD)
    proc = start(*_batch_args(command, big_table, trained_model_dir), cwd=tmp_path)
    # a chunk of 20,000 rows is 3-5 MB of output: wait until two are written
    threshold = {"label": 7_000_000, "predict": 9_000_000}[command]
    assert wait_for(lambda: temporary_size(tmp_path, "out.csv", proc.pid) > threshold, proc)
    proc.send_signal(signal.SIGINT)
    code, stdout, stderr = finish(proc)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    [line] = stderr.splitlines()
    match = INTERRUPTED.fullmatch(line)
    assert match, line
    done, total = (int(g.replace(",", "")) for g in match.groups()[:2])
    assert 0 < done < BIG_ROWS
    assert BIG_ROWS / 2 <= total <= BIG_ROWS * 2  # an estimate from the share read
    assert match.group(3) == "out.csv"
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


@pytest.mark.parametrize("command", ["label", "predict"])
def test_sigkill_never_leaves_a_partial_output_and_the_next_run_cleans_up(
        tmp_path, big_table, trained_model_dir, command, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_bytes(OLD)
    proc = start(*_batch_args(command, big_table, trained_model_dir), cwd=tmp_path)
    assert wait_for(lambda: temporary_size(tmp_path, "out.csv", proc.pid) > 0, proc)
    proc.send_signal(signal.SIGKILL)
    code, _, _ = finish(proc)
    assert code == -signal.SIGKILL
    assert out.read_bytes() == OLD
    # at most the killed run's own temporary file is left behind, never a partial out.csv ...
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out.csv"]
    assert all(re.fullmatch(rf"\.out\.csv\.{proc.pid}\.\w+\.tmp", n) for n in leftovers)
    # ... and the next write to out.csv removes it
    monkeypatch.chdir(tmp_path)
    with AtomicTableWriter(out) as writer:
        writer.write(pd.DataFrame({"text": ["new"]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert out.read_text(encoding="utf-8") == "text\nnew\n"


@pytest.fixture
def slow_training(tmp_path, train_small_path, train_config_path) -> tuple[Path, Path]:
    """Training data and a config that take several seconds to train: train_small.csv twenty
    times over (distinct documents) with character n-grams switched on."""
    frame = pd.read_csv(train_small_path)
    parts = [frame.assign(doc_id=frame["doc_id"] + f"-{k}", text=frame["text"] + f" ({k})")
             for k in range(20)]
    data = tmp_path / "train_big.csv"
    pd.concat(parts).to_csv(data, index=False)
    config = tmp_path / "slow.yaml"
    config.write_text(train_config_path.read_text(encoding="utf-8").replace(
        "char: false", "char: true"), encoding="utf-8")
    return data, config


def assert_complete_model(model_dir: Path) -> None:
    """A model directory from one run: the files of a model, the hash of model.json matching
    model.joblib, and loadable."""
    names = sorted(p.name for p in model_dir.iterdir())
    assert {MODEL_FILE, META_FILE} <= set(names), names
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    assert meta["sha256"][MODEL_FILE] == file_sha256(model_dir / MODEL_FILE)
    if meta.get("cv_metrics"):
        report = json.loads((model_dir / "report.json").read_text(encoding="utf-8"))
        assert report["metrics"]["n"] == meta["training_data"]["sentences"]
    load_model(model_dir)


def no_leftovers(folder: Path) -> list[str]:
    """Lock files, temporary and old model folders beside the model directory."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".model."))


def test_ctrl_c_during_training_keeps_the_old_model(tmp_path, model_copy, slow_training):
    data, config = slow_training
    before = model_state(model_copy)
    proc = start("train", data, "-c", config, "-m", model_copy, "-j", "1", cwd=tmp_path)
    # the run locks the model directory when it starts training
    assert wait_for(lambda: (tmp_path / ".model.lock").exists(), proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    code, _, stderr = finish(proc)
    assert code == 130, stderr
    assert stderr.splitlines() == ["Interrupted: nothing was written."]
    assert model_state(model_copy) == before
    assert no_leftovers(tmp_path) == []


def test_sigkill_while_saving_never_leaves_a_mixed_model(tmp_path, model_copy,
                                                         train_small_path, train_config_path):
    before = model_state(model_copy)
    proc = start("train", train_small_path, "-c", train_config_path, "-m", model_copy, "-j", "1",
                 cwd=tmp_path)
    # the new model is written into .model.<pid>.<random>.tmp and swapped in when complete
    saving = wait_for(lambda: any(tmp_path.glob(f".model.{proc.pid}.*.tmp")), proc)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    if saving and model_state(model_copy) != before:
        pytest.fail("a run killed while saving changed the model directory")
    assert_complete_model(model_copy)
    # the next run into the directory removes what the killed one left
    from policy_themes.config import load_train_config
    from policy_themes.workflows.training import train

    config = load_train_config(train_config_path).with_overrides(folds=0)
    train([train_small_path], config=config, model_dir=model_copy)
    assert no_leftovers(tmp_path) == []
    assert_complete_model(model_copy)


def test_two_trainings_into_one_directory_never_mix(tmp_path, model_copy, train_small_path,
                                                    train_config_path):
    runs = [start("train", train_small_path, "-c", train_config_path, "-m", model_copy,
                  "--seed", str(seed), "-j", "1", cwd=tmp_path) for seed in (1, 2)]
    results = [finish(proc) for proc in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 1]), results
    for code, _, stderr in results:
        assert "Traceback" not in stderr
        if code == 1:
            assert stderr.splitlines() == [
                f"Error: {model_copy}: another run is writing this model directory (lock "
                f"{tmp_path / '.model.lock'}); wait for it to finish"]
    assert_complete_model(model_copy)
    meta = json.loads((model_copy / META_FILE).read_text(encoding="utf-8"))
    winners = [seed for seed, (code, _, _) in zip((1, 2), results) if code == 0]
    assert meta["config"]["seed"] in winners
    assert no_leftovers(tmp_path) == []
