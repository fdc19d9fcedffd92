"""Starting predict's fork server early: only for inputs worth it, and the workers then predict
with the model it loaded."""

import json
import multiprocessing
import pickle
import subprocess
import sys

import pytest

from policy_themes.model.store import preload_model_dir
from policy_themes.model.theme_model import load_model
from policy_themes.parallel.workers import (
    EARLY_START_BYTES,
    holds_at_least,
    prepare_label_workers,
    prepare_predict_workers,
)


def test_holds_at_least_adds_up_files_and_folders(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_bytes(b"x" * 600)
    (tmp_path / "docs" / "b.txt").write_bytes(b"x" * 600)
    (tmp_path / "c.csv").write_bytes(b"x" * 100)
    assert holds_at_least([tmp_path / "docs"], 1200)
    assert not holds_at_least([tmp_path / "docs"], 1201)
    assert holds_at_least([tmp_path / "docs", tmp_path / "c.csv"], 1300)
    assert not holds_at_least([tmp_path / "missing.csv", tmp_path / "c.csv"], 101)


def test_nothing_starts_for_one_job_or_a_small_input(tmp_path, trained_model_dir):
    small = tmp_path / "small.csv"
    small.write_text("text\nThe gas pipeline opened.\n", encoding="utf-8")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * EARLY_START_BYTES)
    assert not prepare_predict_workers(trained_model_dir, 2, [small])
    assert not prepare_predict_workers(trained_model_dir, 1, [big])
    assert not prepare_label_workers(2, [small])
    assert not prepare_label_workers(1, [big])


def test_the_model_a_directory_shares_is_the_one_load_model_reads(trained_model_dir,
                                                                   monkeypatch):
    from policy_themes.model import arrays as compiled

    monkeypatch.setattr(compiled, "_PRELOADED", {})
    preload_model_dir(str(trained_model_dir))  # what the early fork server does
    shared = next(iter(compiled._PRELOADED.values()))
    received = pickle.loads(pickle.dumps(load_model(trained_model_dir)))  # a worker
    assert received.array_model.__dict__["_arrays"] is shared.arrays


PROBE = '''
import os
from policy_themes.workflows.prediction import _PredictChunk


class Probe(_PredictChunk):
    def __call__(self, chunk):
        adopted = self.model.array_model.__dict__.get("_arrays") is not None
        return [adopted, os.getpid(), list(self._predict(chunk)["primary"])]
'''

SCRIPT = '''
import json, sys
import pandas as pd
from policy_themes.parallel.pool import map_chunks
from policy_themes.model.theme_model import load_model
from policy_themes.parallel.workers import prepare_predict_workers
from probe import Probe

if __name__ == "__main__":
    model_dir, big = sys.argv[1], sys.argv[2]
    started = prepare_predict_workers(model_dir, 2, [big])  # before anything is loaded here
    model = load_model(model_dir)
    chunks = [pd.DataFrame({"text": ["The gas pipeline opened.", "Visa rules changed."]})] * 4
    print(json.dumps([started, list(map_chunks(Probe(model, 3), chunks, jobs=2)),
                      list(model.predict(chunks[0]["text"].tolist())["primary"])]))
'''


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no fork server on this platform")
def test_workers_forked_from_an_early_server_predict_with_its_model(tmp_path, trained_model_dir):
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    (tmp_path / "run.py").write_text(SCRIPT, encoding="utf-8")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * EARLY_START_BYTES)
    out = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(trained_model_dir),
                          str(big)], capture_output=True, text=True, check=True, cwd=tmp_path)
    started, results, expected = json.loads(out.stdout)
    assert started
    assert all(adopted for adopted, _, _ in results)  # no worker read the model file
    assert len({pid for _, pid, _ in results}) >= 1
    assert all(primary == expected for _, _, primary in results)


SPLIT_PROBE = '''
from policy_themes.text import sentences


def splitter_loaded(_):
    return sentences._compiled_loaded
'''

SPLIT_SCRIPT = '''
import json, sys
from policy_themes.parallel import workers
from policy_themes.parallel.pool import map_chunks
from split_probe import splitter_loaded

if __name__ == "__main__":
    workers.SPLITTER_BYTES = workers.EARLY_START_BYTES  # the test's input is not 16 MB
    documents = sys.argv[2] == "documents"
    started = workers.prepare_label_workers(2, [sys.argv[1]], documents)
    print(json.dumps([started, list(map_chunks(splitter_loaded, range(4), jobs=2))]))
'''


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no fork server on this platform")
@pytest.mark.parametrize(("name", "mode", "splits"), [
    ("big.csv", "documents", True), ("big.csv", "sentences", False),
    ("big.txt", "sentences", True), ("big.text.gz", "sentences", True)])
def test_an_early_server_loads_the_compiled_splitter_for_documents_only(tmp_path, name, mode,
                                                                        splits):
    (tmp_path / "split_probe.py").write_text(SPLIT_PROBE, encoding="utf-8")
    (tmp_path / "run.py").write_text(SPLIT_SCRIPT, encoding="utf-8")
    big = tmp_path / name
    big.write_bytes(b"x" * EARLY_START_BYTES)
    out = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(big), mode],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    started, loaded = json.loads(out.stdout)
    assert started
    assert loaded == [splits] * 4
