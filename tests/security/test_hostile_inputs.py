"""Small files cannot cost a lot, and every bad input is one ``Error:`` line with nothing written.

Each hostile file is built here: a YAML alias bomb and a YAML nested thousands of levels deep
(taxonomy, training config, ``--set``), a gzip bomb (with a low limit set in the environment, so
that the test stays fast; a bomb whose gzip trailer lies is caught as it is read), a cell past
the cell limit, cells that are not text (JSON numbers and objects, a binary Parquet column, a
Parquet string column that is not UTF-8), bytes that are not UTF-8 in argv and on standard
input, ``model.json`` fields of the wrong type, a full disk (a 64 kB tmpfs, when this process
may mount one), and the sizes a config or a flag sets (``context.window``, a hash size, a
negative seed, ``--set`` values of the wrong type, ``--jobs``).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from hostile import invoke, refused, run_cli, snapshot

from policy_themes.errors import ConfigError, DataError
from policy_themes.io.tables import read_table
from policy_themes.limits import load_yaml

TAXONOMY = """name: tiny
themes:
  - id: energy
    name: Energy
    description: oil and gas
    rules:
      - name: energy_words
        patterns: ["gas", "oil"]
"""
# nine levels of nine aliases: a billion strings once expanded
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{level}: &{level} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, level in zip("abcdefgh", "bcdefghi"))
DEEP = "[" * 5000 + "]" * 5000
NESTED = "[" * 30 + "]" * 30


@pytest.fixture
def folder(tmp_path, monkeypatch, train_small_path, train_config_path, trained_model_dir):
    """A working folder with a document, good training data and config, a taxonomy, a model,
    and an earlier output that must survive."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "doc.txt").write_text("The gas pipeline opened. Trade grew.", encoding="utf-8")
    (tmp_path / "train.csv").write_bytes(train_small_path.read_bytes())
    (tmp_path / "train.yaml").write_bytes(train_config_path.read_bytes())
    (tmp_path / "tiny.yaml").write_text(TAXONOMY, encoding="utf-8")
    (tmp_path / "out.csv").write_text("doc_id,text\nold,An earlier output.\n", encoding="utf-8")
    shutil.copytree(trained_model_dir, tmp_path / "model")
    return tmp_path


def _refused_in(folder: Path, *args, **kwargs) -> str:
    """Run the command in this process; check the promise; return its Error line."""
    before = snapshot(folder)
    line = refused(invoke(*args, **kwargs))
    assert snapshot(folder) == before
    return line


# --- YAML: aliases and depth -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["taxonomy", "config", "set"])
@pytest.mark.parametrize(("body", "message"), [
    (BILLION_LAUGHS, "YAML aliases (*name) are not allowed"),
    (DEEP, "malformed YAML"),  # libyaml's own limit (1,000 levels) comes first
    (NESTED, "YAML nested more than 20 levels deep"),
])
def test_yaml_bombs_are_refused_in_one_line(folder, kind, body, message):
    document = body if body is BILLION_LAUGHS else f"x: {body}\n"
    if kind == "taxonomy":
        (folder / "bomb.yaml").write_text(document + TAXONOMY, encoding="utf-8")
        line = _refused_in(folder, "label", "doc.txt", "-t", "bomb.yaml", "-o", "out.csv")
    elif kind == "config":
        (folder / "bomb.yaml").write_text(document + "seed: 0\n", encoding="utf-8")
        line = _refused_in(folder, "train", "train.csv", "-c", "bomb.yaml", "-m", "new", "-j",
                           "1")
    else:
        flow = "{" + body.replace("\n", ", ").rstrip(", ") + "}" if body is BILLION_LAUGHS \
            else body
        line = _refused_in(folder, "train", "train.csv", "-c", "train.yaml", "--set",
                           f"clf__C={flow}", "-m", "new", "-j", "1")
        if body is DEEP:  # not YAML to libyaml: the text as it is, which sklearn refuses
            message = "--set clf__C: The 'C' parameter of LogisticRegression must be a float"
    assert message in line


def test_yaml_without_aliases_loads_as_before():
    assert load_yaml("a: [1, 2]\nb: {c: d}\n", "x") == {"a": [1, 2], "b": {"c": "d"}}
    assert load_yaml("", "x") is None
    with pytest.raises(ConfigError, match="x: malformed YAML: Exceeds the limit"):
        load_yaml("seed: " + "1" * 5000, "x")


@pytest.mark.parametrize(("body", "message"), [
    ("themes:\n  - id: 5\n    name: n\n    description: d\n",
     "field 'id' must be a non-empty string"),
    (TAXONOMY.replace("name: Energy", "name: [1, 2]"), "field 'name' must be a non-empty string"),
    (TAXONOMY.replace('patterns: ["gas", "oil"]', 'patterns: ["gas"]\n        weight: .nan'),
     "field 'weight' must be a number > 0, got nan"),
    (TAXONOMY.replace('["gas", "oil"]', "[{a: 1}]"), "has an empty or non-string pattern"),
    ("themes: {energy: 1}\n", "'themes' must be a non-empty list"),
])
def test_a_taxonomy_of_the_wrong_types_is_one_line(folder, body, message):
    (folder / "bad.yaml").write_text(body, encoding="utf-8")
    assert message in _refused_in(folder, "label", "doc.txt", "-t", "bad.yaml", "-o", "out.csv")


def test_too_many_regex_rules_are_refused(folder):
    rules = "".join(f'      - name: r{i}\n        patterns: ["re:gas{i}"]\n' for i in range(1001))
    (folder / "many.yaml").write_text(TAXONOMY.split("      - name:")[0] + rules,
                                      encoding="utf-8")
    line = _refused_in(folder, "label", "doc.txt", "-t", "many.yaml", "-o", "out.csv")
    assert "1001 re: patterns, more than a taxonomy may hold (1000" in line


# --- sizes a config or a flag sets ---------------------------------------------------------------

@pytest.mark.parametrize(("config", "extra", "message"), [
    ("context:\n  window: 1000000000\n", [],
     "'context.window' must be at most 20 sentences on each side, got 1000000000"),
    ("seed: -1\n", [], "'seed' must be a whole number from 0 to 4294967295, got -1"),
    ("seed: 0\n", ["--seed", "-5"], "--seed must be a whole number from 0 to 4294967295"),
    ("seed: 0\n", ["--set", "features__word__n_bits=30"],
     "--set features__word__n_bits: The 'n_bits' parameter of HashedTfidf must be an int in "
     "the range [8, 24]. Got 30 instead."),
    ("seed: 0\n", ["--set", "clf__class_weight={energy_diplomacy: abc}"],
     "--set clf__class_weight: the weight of 'energy_diplomacy' must be a number > 0"),
    ("seed: 0\n", ["--set", "features__word__dtype=abc"],
     "The 'dtype' parameter of HashedTfidf must be float32 or float64"),
    ("seed: 0\n", ["--set", "features__word__min_df=100000"],
     "The 'min_df' parameter of HashedTfidf (100000) leaves no n-gram"),
    ("seed: 0\n", ["--set", "clf__C=abc"], "--set clf__C: The 'C' parameter of LogisticRegression"),
])
def test_sizes_and_types_a_config_sets_are_bounded(folder, config, extra, message):
    base = (folder / "train.yaml").read_text(encoding="utf-8")
    (folder / "mine.yaml").write_text(base.replace("seed: 0\n", "") + config, encoding="utf-8")
    line = _refused_in(folder, "train", "train.csv", "-c", "mine.yaml", "-m", "new", "-j", "1",
                       *extra)
    assert message in line


@pytest.mark.parametrize(("setting", "message"), [
    ("clf__C=-1", "--set clf__C: The 'C' parameter of LogisticRegression must be a float"),
    ("clf__C=abc", "--set clf__C: The 'C' parameter of LogisticRegression must be a float"),
    ("clf__C=.inf", "--set clf__C: C=np.inf as well as penalty=None is not supported"),
    ("clf__C=.nan", "--set clf__C: The 'C' parameter"),
    ("clf__C=1e400", "--set clf__C: The 'C' parameter"),
    ("clf__C=", "--set clf__C: The 'C' parameter"),
    ("clf__C={a: 1}", "--set clf__C: The 'C' parameter"),
    ("clf__C=!!python/object:os.system x", "--set clf__C: The 'C' parameter"),
    ("clf__class_weight={x: 1}", "--set clf__class_weight: The classes, ["),
    ("clf__max_iter=1e99", "--set clf__max_iter: The 'max_iter' parameter"),
    ("clf__random_state=-5", "--set clf__random_state: The 'random_state' parameter"),
    ("clf__solver=bogus", "--set clf__solver: The 'solver' parameter"),
    ("features.char_ngrams=[9,1]", "--set features.char_ngrams is not a parameter of the pipeline"),
    ("nonexistent.key=1", "--set nonexistent.key is not a parameter of the pipeline"),
    ("clf__n_jobs=100000", "--set clf__n_jobs is not a parameter of the pipeline"),
    ("features__word__ngram_range=[9,1]", "--set features__word__ngram_range: The 'ngram_range' "
                                          "parameter of HashedTfidf must be a (low, high) pair"),
    ("features__word__ngram_range=[1,2,3]", "must be a (low, high) pair"),
    ("features__word__ngram_range=abc", "must be an instance of 'tuple'"),
    ("features__word__min_df=2.5", "--set features__word__min_df: The 'min_df' parameter"),
    ("features__word__sublinear_tf=maybe", "The 'sublinear_tf' parameter of HashedTfidf"),
    ("=1", "--set '=1': expected step__param=value"),
])
def test_odd_set_values_are_one_line_naming_the_setting(folder, setting, message):
    line = _refused_in(folder, "train", "train.csv", "-c", "train.yaml", "-m", "new", "-j", "1",
                       "--set", setting)
    assert message in line


def test_jobs_are_capped_at_the_cores_with_a_note(folder):
    from policy_themes.parallel.pool import available_cores

    result = invoke("label", "doc.txt", "-o", "labeled.csv", "-j", "100000", "--no-rules")
    assert result.exit_code == 0, result.output
    cores = available_cores()
    assert result.stderr.splitlines() == [
        f"Note: --jobs 100000 is more than the {cores} cores this process may use; using "
        f"{cores}"]


# --- gzip bombs and big cells -----------------------------------------------------------------

def test_a_gzip_bomb_is_refused_at_once_by_its_trailer(folder):
    # 25 MB of one row repeated, 25 kB compressed: 1,000 times its size, past 1 MB
    (folder / "bomb.csv.gz").write_bytes(gzip.compress(b"text\n" + b"Gas.\n" * 5_000_000))
    line = _refused_in(folder, "label", "bomb.csv.gz", "-o", "out.csv",
                       env={"POLICY_THEMES_MAX_DECOMPRESSED": "1M"})
    assert line == ("Error: bomb.csv.gz: decompresses to 25 MB (its gzip trailer says), more "
                    "than 1 MB (POLICY_THEMES_MAX_DECOMPRESSED is 1M); if the file is genuine, "
                    "raise the limit, e.g. POLICY_THEMES_MAX_DECOMPRESSED=8G")


@pytest.mark.parametrize(("name", "command"), [
    (name, command) for name in ("bomb.csv.gz", "bomb.jsonl.gz", "bomb.txt.gz")
    for command in ("label", "predict", "train") if (name, command) != ("bomb.txt.gz", "train")])
def test_a_gzip_bomb_whose_trailer_lies_is_refused_as_it_is_read(folder, name, command):
    # two gzip members: the trailer read is the small second one's
    row = {"bomb.csv.gz": b"Gas,none\n", "bomb.jsonl.gz": b'{"text": "Gas", "themes": "none"}\n',
           "bomb.txt.gz": b"Gas flows. "}[name]
    header = b"text,themes\n" if name.endswith("csv.gz") else b""
    (folder / name).write_bytes(gzip.compress(header + row * 400_000) + gzip.compress(row))
    args = {"label": ["label", name, "-o", "out.csv"],
            "predict": ["predict", "-m", "model", "-i", name, "-o", "out.csv"],
            "train": ["train", name, "-c", "train.yaml", "-m", "new", "-j", "1"]}[command]
    line = _refused_in(folder, *args, env={"POLICY_THEMES_MAX_DECOMPRESSED": "1M"})
    assert line.startswith(f"Error: {name}: decompresses to more than 1 MB")


def test_a_genuine_gzip_table_reads_within_its_limit(folder):
    (folder / "ok.csv.gz").write_bytes(gzip.compress(b"text\nThe gas flows.\n" * 10))
    result = invoke("label", "ok.csv.gz", "-o", "labeled.csv", "--no-rules")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["big.csv", "big.jsonl", "big.parquet"])
def test_a_cell_past_the_cell_limit_is_refused_naming_row_and_column(folder, name):
    texts = ["The gas flows.", "a" * 3_000_000, "Oil."]
    frame = pd.DataFrame({"text": texts})
    if name.endswith("csv"):
        frame.to_csv(folder / name, index=False)
    elif name.endswith("jsonl"):
        frame.to_json(folder / name, orient="records", lines=True)
    else:
        frame.to_parquet(folder / name)
    row = {"big.csv": 3, "big.jsonl": 2, "big.parquet": 2}[name]
    line = _refused_in(folder, "label", name, "-o", "out.csv",
                       env={"POLICY_THEMES_MAX_CELL": "1M"})
    assert line.startswith(f"Error: {name}: row {row}, ")
    assert "than one cell may hold (1 MB); if the table is genuine, raise the limit" in line


@pytest.mark.parametrize("variable", ["POLICY_THEMES_MAX_DECOMPRESSED", "POLICY_THEMES_MAX_CELL"])
def test_a_limit_that_is_not_a_size_is_one_line(folder, variable):
    (folder / "ok.csv.gz").write_bytes(gzip.compress(b"text\nThe gas flows.\n"))
    line = _refused_in(folder, "label", "ok.csv.gz", "-o", "out.csv", env={variable: "lots"})
    assert line == f"Error: {variable}='lots': expected a size in bytes, e.g. 512M or 2G"


# --- cells that are not text ---------------------------------------------------------------------

@pytest.mark.parametrize(("lines", "message"), [
    ('{"text": "Gas."}\n{"text": 42}\n', "row 2, column 'text' holds a number (42), not text"),
    ('{"text": {"a": 1}}\n', "row 1, column 'text' holds a JSON object, not text"),
    ('{"text": [1, 2]}\n', "row 1, column 'text' holds a list, not text"),
    ('{"text": true}\n', "row 1, column 'text' holds true/false (True), not text"),
])
def test_cells_that_are_not_text_are_refused(folder, lines, message):
    (folder / "cells.jsonl").write_text(lines, encoding="utf-8")
    assert message in _refused_in(folder, "label", "cells.jsonl", "-o", "out.csv")
    table = lines.replace('"}', '", "themes": "none"}').replace("}\n", ', "themes": "none"}\n')
    (folder / "labeled.jsonl").write_text(table, encoding="utf-8")
    assert message in _refused_in(folder, "train", "labeled.jsonl", "-c", "train.yaml", "-m",
                                  "new", "-j", "1")


def test_a_binary_parquet_column_is_not_text(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": pa.array([b"Gas.", b"\xff\xfe"], pa.binary())}),
                   folder / "binary.parquet")
    line = _refused_in(folder, "label", "binary.parquet", "-o", "out.csv")
    assert "row 1, column 'text' holds bytes (a binary column), not text" in line


def test_a_parquet_string_column_that_is_not_utf8_is_one_line(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = pa.array([b"Gas.", b"\xff bad"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"text": column}), folder / "latin.parquet")
    line = _refused_in(folder, "label", "latin.parquet", "-o", "out.csv")
    assert line == "Error: latin.parquet: row 2, column 'text' is not valid UTF-8 text"
    with pytest.raises(DataError, match="row 2, column 'text' is not valid UTF-8"):
        read_table(folder / "latin.parquet")


# --- bytes that are not UTF-8 in argv and on standard input ------------------------------------

def test_argv_bytes_that_are_not_utf8_are_one_line(folder):
    result = run_cli("predict", "-m", "model", b"Gas \xff flows.", "-o", "out.csv", cwd=folder)
    assert refused(result) == ("Error: text argument 1: not valid UTF-8 text (byte 0xff); give "
                               "text in UTF-8")
    result = run_cli("train", "train.csv", "-c", "train.yaml", "-m", b"new\xff", "-j", "1",
                     cwd=folder)
    assert "not valid UTF-8 text (byte 0xff)" in refused(result)
    assert not list(folder.glob("new*"))


def test_standard_input_that_is_not_utf8_is_one_line(folder):
    before = snapshot(folder)
    result = run_cli("predict", "-m", "model", "-", cwd=folder, stdin=b"The gas \xff flows.")
    assert refused(result) == (
        "Error: standard input: not valid UTF-8 text (byte 0xff on line 1); pass --encoding "
        "with the file's encoding, e.g. --encoding cp1252 for Windows or Latin-1 text")
    assert snapshot(folder) == before
    utf16 = run_cli("predict", "-m", "model", "-", "-f", "csv", cwd=folder,
                    stdin="The gas flows.".encode("utf-16"))
    assert utf16.returncode == 0 and b"The gas flows." in utf16.stdout


# --- model.json fields of the wrong type --------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "message"), [  # model.checks.check_meta's words
    ("sha256", "abc", "model.json.sha256 must be an object, got str"),
    ("taxonomy", {"ids": [1, 2]}, "model.json.taxonomy.ids[0] must be text, got int"),
    ("config", {"features": "x"}, "model.json.config.features must be an object, got str"),
    ("config", {"context": {"window": 10**9}}, "'context.window' must be at most 20"),
    ("training_data", {"primary_counts": [1]},
     "model.json.training_data.primary_counts must be an object, got list"),
    ("thresholds", {"energy_diplomacy": "high"},
     "model.json.thresholds['energy_diplomacy'] must be a number, got str"),
    ("name", {"a": 1}, "model.json.name must be text, got dict"),
])
@pytest.mark.parametrize("command", ["predict", "evaluate", "info"])
def test_model_json_fields_of_the_wrong_type_are_one_line(folder, field, value, message,
                                                          command):
    meta = json.loads((folder / "model" / "model.json").read_text(encoding="utf-8"))
    meta[field] = value if field in ("sha256", "name") or not isinstance(meta.get(field), dict) \
        else {**meta[field], **value}
    (folder / "model" / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    args = {"predict": ["predict", "-m", "model", "Gas.", "-o", "out.csv"],
            "evaluate": ["evaluate", "train.csv", "-m", "model", "-o", "report"],
            "info": ["info", "-m", "model"]}[command]
    assert message in _refused_in(folder, *args)


# --- a full disk ----------------------------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs (needs root and mount; skipped otherwise), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], capture_output=True, check=False)


@pytest.mark.parametrize("command", ["train", "evaluate", "label", "predict"])
def test_a_full_disk_is_one_line_and_leaves_nothing(folder, full_disk, command):
    (folder / "long.txt").write_text("The gas pipeline opened. " * 20_000, encoding="utf-8")
    args = {"train": ["train", "train.csv", "-c", "train.yaml", "-m", full_disk / "model", "-j",
                      "1"],
            "evaluate": ["evaluate", "train.csv", "-m", "model", "-o", full_disk / "report"],
            "label": ["label", "long.txt", "-o", full_disk / "out.csv"],
            "predict": ["predict", "-m", "model", "-i", "long.txt", "-o",
                        full_disk / "out.csv"]}[command]
    line = refused(invoke(*args))
    assert "No space left on device" in line
    assert list(full_disk.iterdir()) == []


@pytest.mark.parametrize("report_on_disk", [True, False])
def test_label_writes_its_output_and_report_as_a_pair(folder, full_disk, report_on_disk):
    """The report cannot be written (a full disk): the labeled sentences are not written
    either, and the reverse; the earlier output survives."""
    filler = full_disk / "filler"
    with pytest.raises(OSError), open(filler, "wb") as handle:
        while True:
            handle.write(b"x" * 4096)
            handle.flush()
    report, out = (full_disk / "report.md", "out.csv") if report_on_disk else \
        ("report.md", full_disk / "out.csv")
    (folder / "long.txt").write_text("The gas pipeline opened. " * 2000, encoding="utf-8")
    line = _refused_in(folder, "label", "long.txt", "-o", out, "--report", report)
    assert "No space left on device" in line
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


@pytest.mark.parametrize("table", [True, False])
def test_suggest_writes_all_its_outputs_or_none(folder, full_disk, table):
    """One output cannot be written (a full disk): none of the others is left either."""
    filler = full_disk / "filler"
    with pytest.raises(OSError), open(filler, "wb") as handle:
        while True:
            handle.write(b"x" * 4096)
            handle.flush()
    pool = folder / "pool.csv"
    pd.read_csv(folder / "train.csv").drop(columns="themes").to_csv(pool, index=False)
    args = ["-o", "next.csv"] if table else []
    line = _refused_in(folder, "suggest", "pool.csv", "-m", "model", "-n", "30", *args,
                       "--label-studio", "tasks.json", "--prodigy", full_disk / "p.jsonl",
                       "--keep-training-data")
    assert "No space left on device" in line
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]
