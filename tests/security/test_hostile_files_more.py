"""More hostile files, each found by trying to break the package (issue 20's "checked against
hostile files the team does not see"): a taxonomy with more themes than a model should hold,
themes cells that are not text (a Parquet list of structs), a ``model.json`` with an integer of
5,000 digits, model files that are links to devices, Label Studio exports nested 10,000 levels
deep or holding such an integer, a ``.json.gz`` bomb, choices that are not lists, a label of
megabytes, and flags at their extremes. Each is one ``Error:`` line with nothing written, or
(the flags) a run that completes.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hostile import invoke, refused, snapshot

from policy_themes.limits import MAX_THEMES


@pytest.fixture
def folder(tmp_path, monkeypatch, train_small_path, train_config_path, trained_model_dir):
    """A working folder with good training data and config, a document and a model."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(train_small_path, tmp_path / "train.csv")
    shutil.copy(train_config_path, tmp_path / "train.yaml")
    (tmp_path / "doc.txt").write_text("The gas pipeline opened. Trade grew.", encoding="utf-8")
    shutil.copytree(trained_model_dir, tmp_path / "model")
    return tmp_path


def _refused_in(folder: Path, *args, env=None) -> str:
    before = snapshot(folder)
    line = refused(invoke(*args, env=env))
    assert snapshot(folder) == before
    return line


def _train_with(folder: Path, name: str, env=None) -> str:
    return _refused_in(folder, "train", "train.csv", name, "-c", "train.yaml", "-m", "new",
                       "-j", "1", env=env)


def test_a_taxonomy_of_more_themes_than_a_model_should_hold_is_refused(folder):
    themes = "".join(f"  - {{id: t{i}, name: T{i}, description: x}}\n"
                     for i in range(MAX_THEMES + 1))
    (folder / "many.yaml").write_text(f"name: many\nthemes:\n{themes}", encoding="utf-8")
    line = _refused_in(folder, "label", "doc.txt", "-t", "many.yaml", "-o", "out.csv")
    assert line.endswith(f"{MAX_THEMES + 1:,} themes, more than a taxonomy may hold "
                         f"({MAX_THEMES:,})")


def test_a_parquet_themes_column_of_lists_is_read_and_one_of_structs_refused(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = pd.read_csv(folder / "train.csv")
    ids = pa.array([t.split(";") for t in texts["themes"]])
    pq.write_table(pa.table({"text": texts["text"], "themes": ids,
                             "doc_id": texts["doc_id"]}), folder / "lists.parquet")
    result = invoke("train", "lists.parquet", "-c", "train.yaml", "-m", "lists", "-j", "1")
    assert result.exit_code == 0, result.output
    structs = pa.array([[{"id": 1}]] * 2)
    pq.write_table(pa.table({"text": ["Gas.", "Oil."], "themes": structs}),
                   folder / "structs.parquet")
    line = _train_with(folder, "structs.parquet")
    assert "structs.parquet: row 1: a themes cell must be theme ids" in line


def test_a_model_json_with_an_integer_of_5000_digits_is_one_line(folder):
    path = folder / "model" / "model.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"sentences": ', '"sentences": ' + "9" * 5000 + ', "x": ', 1),
                    encoding="utf-8")
    line = _refused_in(folder, "predict", "-m", "model", "Gas.")
    assert "model.json: unreadable or damaged (Exceeds the limit" in line


@pytest.mark.parametrize("name", ["model.npz", "model.joblib", "model.json"])
def test_model_files_that_are_links_to_devices_are_refused_not_read(folder, name):
    (folder / "model" / name).unlink()
    (folder / "model" / name).symlink_to("/dev/zero")
    before = sorted(folder.rglob("*"))  # names only: reading the link would never end
    line = refused(invoke("predict", "-m", "model", "Gas.", "-o", "out.csv"))
    assert f"model/{name}" in line or "model: no" in line
    assert sorted(folder.rglob("*")) == before


@pytest.mark.parametrize(("body", "message"), [
    ("[" * 10_000 + "]" * 10_000, "not a Label Studio JSON export (nested too deeply)"),
    ('[{"data": {"text": "Gas."}, "annotations": [{"result": ' + "[" * 10_000 + "]" * 10_000
     + "}]}]", "not a Label Studio JSON export (nested too deeply)"),
    ('[{"data": {"text": "Gas."}, "id": ' + "9" * 5000 + "}]",
     "not a Label Studio JSON export (Exceeds the limit (4300 digits)"),
    (json.dumps([{"data": {"text": {"a": 1}}, "annotations": [{"result": [
        {"from_name": "primary", "type": "choices", "value": {"choices": ["none"]}}]}]}]),
     "task 1: 'text' holds dict, not text"),
    (json.dumps([{"data": {"text": "Gas."}, "annotations": [{"result": [
        {"from_name": "primary", "type": "choices", "value": {"choices": "none"}}]}]}]),
     "task 1: a choices result must hold a list of theme ids in value.choices"),
    (json.dumps([{"data": {"text": "Gas."}, "annotations": [{"result": [
        {"type": "choices", "value": "none"}]}]}]),
     "task 1: a choices result must hold a list of theme ids in value.choices"),
    (json.dumps([{"text": "Gas.", "primary": [[1]]}]),
     "task 1: 'primary' is not a Label Studio choice"),
])
def test_hostile_label_studio_exports_are_one_line(folder, body, message):
    (folder / "export.json").write_text(body, encoding="utf-8")
    assert message in _train_with(folder, "export.json")


def test_a_label_studio_gzip_bomb_stops_at_the_limit(folder):
    with gzip.open(folder / "bomb.json.gz", "wb") as handle:
        handle.write(b"[" + b" " * (20 << 20) + b"]")
    line = _train_with(folder, "bomb.json.gz", env={"POLICY_THEMES_MAX_DECOMPRESSED": "1M"})
    assert "bomb.json.gz: decompresses to 21 MB (its gzip trailer says), more than 1 MB" in line


@pytest.mark.parametrize(("line", "message"), [
    ({"text": "Gas.", "label": ["x" * 3_000_000]}, "unknown theme 'xxxxxxxx"),
    ({"text": "Gas.", "label": [{"id": 1}]}, "line 1: the labels must be a list of theme ids"),
    ({"text": "Gas.", "label": 7}, "line 1: the labels must be a list of theme ids"),
    ({"text": {"a": 1}, "label": ["none"]}, "row 1, column 'text' holds a JSON object"),
    ({"text": "Gas.", "accept": ["none"], "answer": {"x": 1}}, "no labeled line"),
])
def test_hostile_doccano_and_prodigy_exports_are_one_short_line(folder, line, message):
    (folder / "export.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    error = _train_with(folder, "export.jsonl")
    assert message in error
    assert len(error) < 1000


def test_flags_at_their_extremes(folder):
    result = invoke("predict", "-m", "model", "Gas.", "--top-k", "1000000000", "-f", "csv")
    assert result.exit_code == 0, result.output
    pool = folder / "pool.csv"
    pd.read_csv(folder / "train.csv").drop(columns="themes").to_csv(pool, index=False)
    result = invoke("suggest", pool, "-m", "model", "-n", "1000000000", "-o", "next.csv",
                    "--keep-training-data")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(folder / "next.csv")) == 88
    result = invoke("suggest", pool, "-m", "model", "-n", "-1", "-o", "other.csv")
    assert result.exit_code == 2 and not (folder / "other.csv").exists()
