"""Every bad input gets one clear line, a non-zero exit and no traceback, and nothing is written.

Each refusal is checked the same way: exit code 1, stdout empty, exactly one ``Error: ...`` line
on stderr, and every file of the working folder (an existing good ``out.csv`` among them)
byte-identical afterwards, with nothing added.

Rows whose text is blank, white space or missing are **skipped** by every command (label,
predict, train, evaluate) with one ``Warning: skipped N rows with blank or missing text (...)``
line naming the rows; a run with no text left at all is an error.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.config import load_train_config
from policy_themes.io.checksums import file_sha256
from policy_themes.io.tables import BLANK_TEXT, CONFLICT, DUPLICATE
from policy_themes.model.store import MODEL_FILE
from policy_themes.workflows.training import train

runner = CliRunner()

GOOD_CSV = "text,themes\nThe gas pipeline opened.,energy_diplomacy\nThank you.,none\n"
OLD_OUTPUT = b"doc_id,text\nold,An earlier good output.\n"
GOOD_TAXONOMY = """name: tiny
themes:
  - id: energy
    name: Energy
    description: oil and gas
    rules:
      - name: energy_words
        patterns: ["gas", "oil"]
"""
KNOWN = ("foreign_policy_principles, sovereignty_territorial_integrity, security_defense, "
         "counter_terrorism, international_law, multilateral_diplomacy, bilateral_relations, "
         "regional_cooperation, energy_diplomacy, transport_connectivity, economic_trade, "
         "multiculturalism_dialogue, humanitarian_cultural, consular_diaspora, "
         "information_disinformation, none")
BINARY_HINT = ("holds NUL bytes, so it looks like a binary file, not a CSV table (if it is "
               "UTF-16 text without a byte-order mark, pass --encoding utf-16-le)")
LATIN1_HINT = ("not valid UTF-8 text (byte 0xe9 on line 2); pass --encoding with the file's "
               "encoding, e.g. --encoding cp1252 for Windows or Latin-1 text")
UNKNOWN_ENCODING = ("Error: unknown text encoding 'klingon' (--encoding); use a name such as "
                    "utf-8, utf-16, cp1252 or latin-1")


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and folder under ``folder`` with its bytes (folders as a marker)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_dir():
            state[key] = b"<folder>"
        else:
            try:
                state[key] = path.read_bytes()
            except PermissionError:
                state[key] = b"<unreadable>"
    return state


def assert_refused(result, expected: str, before: dict, folder: Path) -> None:
    """Exit 1, one ``Error:`` line on stderr (``expected``, or its prefix when it ends with
    "…"), nothing on stdout, no traceback, and no file added or changed."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if expected.endswith("…"):
        assert lines[0].startswith(expected[:-1]), lines[0]
    else:
        assert lines[0] == expected
    assert snapshot(folder) == before


@pytest.fixture
def workspace(tmp_path, monkeypatch, model_copy, train_small_path, train_config_path):
    """A working folder holding good and bad inputs, an earlier good out.csv and a model."""
    monkeypatch.chdir(tmp_path)
    files: dict[str, bytes | str] = {
        "doc.txt": "The two ministers discussed the new gas pipeline. Trade grew.",
        "good.csv": GOOD_CSV,
        "out.csv": OLD_OUTPUT,
        "train.csv": train_small_path.read_bytes(),
        "train.yaml": train_config_path.read_bytes(),
        "empty.csv": "",
        "header.csv": "text,themes\n",
        "nocol.csv": "sentence,label\nGas.,energy_diplomacy\n",
        "semicolon.csv": "text;themes\nGas pipeline.;energy_diplomacy\n",
        "tabs.csv": "text\tthemes\nGas pipeline.\tenergy_diplomacy\n",
        "commas.tsv": "text,themes\nGas pipeline.,energy_diplomacy\n",
        "long_row.csv": "text,themes\nGas.,energy_diplomacy\nOil, gas and coal.,energy_diplomacy\n",
        "long_first_row.csv": "text,themes\nOil, gas and coal.,energy_diplomacy\nGas.,none\n",
        "open_quote.csv": 'text,themes\nGas.,energy_diplomacy\n"Oil talks.,none\n',
        "nul_early.csv": b"text\nGas\x00 pipeline.\n",
        "nul_late.csv": b"text\n" + b"Gas pipeline.\n" * 1000 + b"Oil\x00 talks.\n",
        "garbage.csv": random.Random(0).randbytes(4096),
        "gzipped.csv": gzip.compress(b"text\nGas.\n"),
        "broken.csv.gz": b"\x1f\x8b\x08\x00garbage, not deflate data",
        "all_blank.csv": "text,themes\n,none\n   ,none\n",
        "latin1.csv": "text\nCafé diplomacy.\n".encode("latin-1"),
        "latin1_gold.csv": "text,themes\nCafé diplomacy.,none\n".encode("latin-1"),
        "utf16_nobom.csv": "text\nGas.\n".encode("utf-16-le"),
        "bom.csv": "text\nGas.\n".encode("utf-8-sig"),
        "unknown_gold.csv": "text,themes\nGas.,energy_diplomacy\nOil.,gas_stuff\n"
                            "Coal.,gas_stuff\n",
        "empty_cell.csv": "text,themes\nGas.,energy_diplomacy\nOil.,\n",
        "single.csv": "text,themes\nGas.,energy_diplomacy\nOil.,energy_diplomacy\n",
        "few.csv": train_small_path.read_text(encoding="utf-8")
                   + "Interfaith dialogue was praised.,multiculturalism_dialogue,D99\n",
        "bad_yaml.yaml": "seed: 0\nparams:\n  clf__C: [1.0\n",
        "unknown_key.yaml": "seed: 0\nepochs: 3\n",
        "wrong_type.yaml": "seed: abc\n",
        "tiny.yaml": GOOD_TAXONOMY,
        "bad_regex.yaml": GOOD_TAXONOMY.replace('"oil"]', '"re:(unclosed"]'),
        "bad_taxonomy.yaml": "themes: [\n",
    }
    assert b"\x00" in files["garbage.csv"]
    for name, content in files.items():
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    pd.DataFrame({"text": ["Gas."]}).to_parquet(tmp_path / "parquet.csv")
    (tmp_path / "no_documents").mkdir()
    (tmp_path / "no_documents" / "notes.md").write_text("not a .txt document", encoding="utf-8")
    (tmp_path / "folder.csv").mkdir()
    truncated = Path(shutil.copytree(model_copy, tmp_path / "truncated"))
    data = (truncated / MODEL_FILE).read_bytes()[:1000]
    (truncated / MODEL_FILE).write_bytes(data)
    meta = json.loads((truncated / "model.json").read_text(encoding="utf-8"))
    meta["sha256"][MODEL_FILE] = file_sha256(truncated / MODEL_FILE)
    (truncated / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    return tmp_path


M = ("-m", "model")
C = ("-c", "train.yaml", "-m", "new_model", "-j", "1")

CASES = [
    # --- paths ---------------------------------------------------------------------------
    (["label", "no_documents", "-o", "out.csv"],
     "Error: no_documents: folder holds no .txt documents"),
    (["predict", *M, "-i", "missing.csv", "-o", "out.csv"],
     "Error: missing.csv: no such file or folder"),
    (["train", "missing.csv", *C], "Error: missing.csv: no such file"),
    (["label", "doc.txt", "-o", "folder.csv"], "Error: folder.csv: is a folder; give a file name"),
    (["label", "doc.txt", "-o", "doc.txt/out.csv"],
     "Error: doc.txt/out.csv: doc.txt is not a folder"),
    (["label", "doc.txt", "-o", "out.csv", "--report", "no_folder/rules.md"],
     "Error: no_folder/rules.md: folder no_folder does not exist"),
    (["predict", *M, "-i", "good.csv", "-o", "good.csv"],
     "Error: good.csv: the output path is also an input; choose another --out"),
    (["evaluate", "good.csv", *M, "-o", "model"],
     "Error: model: is a model directory and its training report would be overwritten; write "
     "the report elsewhere (--out)"),
    (["train", "train.csv", "-c", "train.yaml", "-m", "out.csv"],
     "Error: out.csv: exists and is not a folder; choose another --model-dir"),
    # --- tables --------------------------------------------------------------------------
    (["label", "empty.csv", "-o", "out.csv"], "Error: empty.csv: the table is empty"),
    (["label", "header.csv", "-o", "out.csv"],
     "Error: header.csv: the table has a header but no rows"),
    (["predict", *M, "-i", "header.csv", "-o", "out.csv"],
     "Error: header.csv: the table has a header but no rows"),
    (["evaluate", "header.csv", *M, "-o", "report"],
     "Error: header.csv: the table has a header but no rows"),
    (["train", "header.csv", *C], "Error: header.csv: the table has a header but no rows"),
    (["label", "nocol.csv", "-o", "out.csv"],
     "Error: nocol.csv: no 'text' column (columns: sentence, label)"),
    (["label", "semicolon.csv", "-o", "out.csv"],
     "Error: semicolon.csv: no 'text' column (columns: text;themes); the file seems to use ';' "
     "between columns, but .csv is read with ',': check the file's format or --text-column"),
    (["train", "semicolon.csv", *C],
     "Error: semicolon.csv: no 'text' column (columns: text;themes); the file seems to use ';' "
     "between columns, but .csv is read with ',': check the file's format or --text-column"),
    (["label", "tabs.csv"],
     "Error: tabs.csv: no 'text' column (columns: text\tthemes); the file seems to use tabs "
     "between columns, but .csv is read with ',': check the file's format or --text-column"),
    (["label", "commas.tsv"],
     "Error: commas.tsv: no 'text' column (columns: text,themes); the file seems to use ',' "
     "between columns, but .tsv is read with tabs: check the file's format or --text-column"),
    (["label", "long_row.csv", "-o", "out.csv"],
     "Error: long_row.csv: malformed CSV (line 3 has 3 fields, the header has 2; put texts "
     "that contain a comma in quotes)"),
    (["label", "long_first_row.csv", "-o", "out.csv"],
     "Error: long_first_row.csv: malformed CSV (line 2 has 3 fields, the header has 2; put "
     "texts that contain a comma in quotes)"),
    (["label", "open_quote.csv", "-o", "out.csv"],
     "Error: open_quote.csv: malformed CSV (a quote opened on line 3 is never closed)"),
    (["label", "nul_early.csv", "-o", "out.csv"], f"Error: nul_early.csv: {BINARY_HINT}"),
    (["label", "nul_late.csv", "-o", "out.csv"],
     "Error: nul_late.csv: holds a NUL byte in row 1002; it looks like a binary file, not text"),
    (["label", "garbage.csv", "-o", "out.csv"], f"Error: garbage.csv: {BINARY_HINT}"),
    (["predict", *M, "-i", "garbage.csv", "-o", "out.csv"], f"Error: garbage.csv: {BINARY_HINT}"),
    (["label", "gzipped.csv", "-o", "out.csv"],
     "Error: gzipped.csv: this is a gzip-compressed file (name it with a .gz ending), not a CSV "
     "table"),
    (["label", "parquet.csv", "-o", "out.csv"],
     "Error: parquet.csv: this is a Parquet file (name it .parquet), not a CSV table"),
    (["label", "broken.csv.gz", "-o", "out.csv"], "Error: broken.csv.gz: not a valid gzip file…"),
    (["label", "all_blank.csv", "-o", "out.csv"],
     "Error: no text to label: skipped 2 rows with blank or missing text (all_blank.csv rows 2, "
     "3)"),
    (["predict", *M, "-i", "all_blank.csv", "-o", "out.csv"],
     "Error: no text to predict: skipped 2 rows with blank or missing text (all_blank.csv rows "
     "2, 3)"),
    (["evaluate", "all_blank.csv", *M, "-o", "report"],
     "Error: no text to evaluate: skipped 2 rows with blank or missing text (all_blank.csv rows "
     "2, 3)"),
    (["train", "all_blank.csv", *C],
     "Error: no text to train on: skipped 2 rows with blank or missing text (all_blank.csv rows "
     "2, 3)"),
    (["predict", *M, " ", "", "-o", "out.csv"],
     "Error: no text to predict: every sentence given is blank"),
    # --- encodings -----------------------------------------------------------------------
    (["label", "latin1.csv", "-o", "out.csv"], f"Error: latin1.csv: {LATIN1_HINT}"),
    (["predict", *M, "-i", "latin1.csv", "-o", "out.csv"], f"Error: latin1.csv: {LATIN1_HINT}"),
    (["evaluate", "latin1_gold.csv", *M, "-o", "report"],
     f"Error: latin1_gold.csv: {LATIN1_HINT}"),
    (["train", "latin1_gold.csv", *C], f"Error: latin1_gold.csv: {LATIN1_HINT}"),
    (["label", "utf16_nobom.csv", "-o", "out.csv"], f"Error: utf16_nobom.csv: {BINARY_HINT}"),
    (["label", "good.csv", "--encoding", "klingon", "-o", "out.csv"], UNKNOWN_ENCODING),
    (["predict", *M, "-i", "good.csv", "--encoding", "klingon", "-o", "out.csv"],
     UNKNOWN_ENCODING),
    (["evaluate", "good.csv", *M, "--encoding", "klingon", "-o", "report"], UNKNOWN_ENCODING),
    (["train", "good.csv", *C, "--encoding", "klingon"], UNKNOWN_ENCODING),
    (["label", "bom.csv", "--encoding", "cp1252"],
     "Error: bom.csv: starts with a UTF-8 byte-order mark, but --encoding cp1252 was given; "
     "leave --encoding out"),
    # --- labels --------------------------------------------------------------------------
    (["evaluate", "unknown_gold.csv", *M, "-o", "report"],
     f"Error: unknown_gold.csv: unknown theme 'gas_stuff' in rows 3, 4; known themes: {KNOWN}"),
    (["train", "empty_cell.csv", *C], "Error: empty_cell.csv: empty themes cell in row 3"),
    (["train", "single.csv", *C],
     "Error: training needs at least two different primary themes; every sentence is "
     "'energy_diplomacy'"),
    (["train", "few.csv", *C],
     "Error: too few examples for 3-fold cross-validation: 'multiculturalism_dialogue' (1); "
     "add "
     "examples or lower the folds (--folds, or cv.folds: 0 to skip)"),
    # --- configs (the messages themselves are tested in tests/core/test_config.py and
    # test_taxonomy.py; here: they reach the command line as one line) --------------------
    (["train", "train.csv", "-c", "bad_yaml.yaml", "-m", "new_model"],
     "Error: bad_yaml.yaml: malformed YAML at line …"),
    (["train", "train.csv", "-c", "unknown_key.yaml", "-m", "new_model"],
     "Error: unknown_key.yaml: unknown key 'epochs' (allowed: …"),
    (["train", "train.csv", "-c", "wrong_type.yaml", "-m", "new_model"],
     "Error: wrong_type.yaml: 'seed' must be a whole number, got 'abc'"),
    (["label", "doc.txt", "-t", "bad_regex.yaml", "-o", "out.csv"],
     "Error: bad_regex.yaml: theme 'energy', rule 'energy_words': field 'patterns': invalid "
     "pattern 're:(unclosed' …"),
    (["label", "doc.txt", "-t", "bad_taxonomy.yaml", "-o", "out.csv"],
     "Error: bad_taxonomy.yaml: malformed YAML at line …"),
    # --- models ----------------------------------------------------------------------------
    # (predictions come from model.npz; the pipeline is unpickled for --explain)
    (["predict", "-m", "truncated", "Gas.", "--explain", "-o", "out.csv"],
     "Error: truncated/model.joblib: cannot be loaded …"),
    (["evaluate", "good.csv", *M, "-t", "tiny.yaml", "-o", "report"],
     "Error: the model at model was built for another taxonomy (only in the model: …"),
]


@pytest.mark.parametrize(("args", "expected"), CASES,
                         ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(CASES)])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(workspace, args, expected):
    before = snapshot(workspace)
    result = invoke(*args)
    assert_refused(result, expected, before, workspace)


def test_empty_standard_input(workspace):
    before = snapshot(workspace)
    result = invoke("predict", *M, "-", input="")
    assert_refused(result, "Error: no text to predict: standard input is empty", before,
                   workspace)


def test_unreadable_file(workspace):
    locked = workspace / "locked.csv"
    locked.write_text(GOOD_CSV, encoding="utf-8")
    locked.chmod(0)
    try:
        try:
            locked.read_bytes()
        except PermissionError:
            pass
        else:
            pytest.skip("running as root: chmod 000 does not stop reading")
        before = snapshot(workspace)
        result = invoke("label", "locked.csv", "-o", "out.csv")
        assert_refused(result, "Error: locked.csv: cannot read (Permission denied)", before,
                       workspace)
    finally:
        locked.chmod(0o644)


def test_unwritable_folder(workspace):
    folder = workspace / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        try:
            (folder / "probe").write_text("x", encoding="utf-8")
        except PermissionError:
            pass
        else:
            (folder / "probe").unlink()
            pytest.skip("running as root: a read-only folder can still be written")
        before = snapshot(workspace)
        result = invoke("label", "doc.txt", "-o", "read_only/out.csv")
        assert_refused(result, "Error: read_only/out.csv: cannot write there (Permission "
                               "denied)", before, workspace)
    finally:
        folder.chmod(0o755)


# --- blank texts are skipped and counted, the same in every command ------------------------

BLANK_TABLE = ("text,themes,doc_id\nThe gas pipeline opened.,energy_diplomacy,a\n,none,a\n"
               "   ,none,b\nThe embassy issued visas.,consular_diaspora,b\n")
BLANK_WARNING = "Warning: skipped 2 rows with blank or missing text (blank.csv rows 3, 4)"


@pytest.mark.parametrize("command", ["label", "predict", "evaluate"])
def test_blank_texts_are_skipped_with_one_warning(workspace, command):
    (workspace / "blank.csv").write_text(BLANK_TABLE, encoding="utf-8")
    args = {"label": ["label", "blank.csv", "-o", "labeled.csv"],
            "predict": ["predict", *M, "-i", "blank.csv", "-o", "labeled.csv"],
            "evaluate": ["evaluate", "blank.csv", *M, "-o", "report", "--bootstrap", "0"]}
    result = invoke(*args[command])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [BLANK_WARNING]
    if command == "evaluate":
        report = json.loads((workspace / "report" / "report.json").read_text(encoding="utf-8"))
        assert report["metrics"]["n"] == 2
        assert report["meta"]["skipped (blank text)"] == 2
    else:
        frame = pd.read_csv(workspace / "labeled.csv")
        assert frame["text"].tolist() == ["The gas pipeline opened.",
                                          "The embassy issued visas."]
        assert frame["doc_id"].tolist() == ["a", "b"]


def test_blank_texts_are_skipped_in_training(workspace, train_small_path):
    table = workspace / "blank.csv"
    table.write_text(train_small_path.read_text(encoding="utf-8") + ",none,D01\n  ,none,D02\n",
                     encoding="utf-8")
    result = invoke("train", "blank.csv", "-c", "train.yaml", "-m", "m", "--folds", "0",
                    "-j", "1")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "Warning: skipped 2 rows with blank or missing text (blank.csv rows 90, 91)"]
    meta = json.loads((workspace / "m" / "model.json").read_text(encoding="utf-8"))
    assert meta["training_data"]["sentences"] == 88
    assert [f["kind"] for f in meta["data_findings"]] == [BLANK_TEXT]


def test_missing_texts_in_json_lines_are_skipped(workspace):
    rows = [{"text": "Gas talks."}, {"text": None}, {"other": 1}, {"text": " \t"}]
    (workspace / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n",
                                       encoding="utf-8")
    result = invoke("label", "t.jsonl", "-o", "labeled.jsonl", "--no-rules")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "Warning: skipped 3 rows with blank or missing text (t.jsonl rows 2, 3, 4)"]
    assert len((workspace / "labeled.jsonl").read_text(encoding="utf-8").splitlines()) == 1


# --- a one-megabyte "sentence" works ------------------------------------------------------


def test_a_one_megabyte_sentence_is_labeled_and_predicted(workspace):
    rng = random.Random(1)
    words = "the gas pipeline minister border treaty embassy citizens trade sanctions".split()
    text = " ".join(rng.choice(words) for _ in range(130_000))[:1_000_000]
    (workspace / "huge.txt").write_text(text, encoding="utf-8")
    pd.DataFrame({"text": [text]}).to_csv(workspace / "huge.csv", index=False)
    start = time.perf_counter()
    labeled = invoke("label", "huge.txt", "-o", "huge_labeled.csv", "--no-rules")
    predicted = invoke("predict", *M, "-i", "huge.csv", "-o", "huge_predicted.csv")
    assert labeled.exit_code == 0, labeled.output
    assert predicted.exit_code == 0, predicted.output
    assert time.perf_counter() - start < 60
    frame = pd.read_csv(workspace / "huge_labeled.csv")
    assert len(frame) == 1 and len(frame["text"][0]) == len(text.strip())
    assert "energy_diplomacy" in frame["themes"][0]
    assert len(pd.read_csv(workspace / "huge_predicted.csv")) == 1


# --- encodings -----------------------------------------------------------------------------

CAFE = "Café diplomacy: the “gas” pipeline opened."


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_tables_with_a_byte_order_mark_are_decoded(workspace, encoding):
    (workspace / "marked.csv").write_bytes(f"text\n{CAFE}\n".encode(encoding))
    result = invoke("label", "marked.csv", "-o", "labeled.csv", "--no-rules")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(workspace / "labeled.csv")["text"].tolist() == [CAFE]


@pytest.mark.parametrize("command", ["label", "predict", "evaluate", "train"])
def test_the_encoding_option_works_on_every_command(workspace, train_small_path, command):
    utf8 = train_small_path.read_text(encoding="utf-8").replace(
        "natural gas", "natural gas (Café “Caspian”)")
    (workspace / "cp.csv").write_bytes(utf8.encode("cp1252"))
    (workspace / "u8.csv").write_text(utf8, encoding="utf-8")
    if command == "train":
        for name in ("cp", "u8"):
            result = invoke("train", f"{name}.csv", "-c", "train.yaml", "-m", f"m_{name}",
                            "--folds", "0", "-j", "1",
                            *(["--encoding", "cp1252"] if name == "cp" else []))
            assert result.exit_code == 0, result.output
        metas = [json.loads((workspace / f"m_{n}" / "model.json").read_text(encoding="utf-8"))
                 for n in ("cp", "u8")]
        assert metas[0]["training_data"]["fingerprint"] == \
            metas[1]["training_data"]["fingerprint"]
        return
    args = {"label": ["label", "cp.csv", "-o", "decoded.csv", "--no-rules"],
            "predict": ["predict", *M, "-i", "cp.csv", "-o", "decoded.csv"],
            "evaluate": ["evaluate", "cp.csv", *M, "-o", "report", "--bootstrap", "0"]}[command]
    refused = invoke(*args)
    assert refused.exit_code == 1
    assert "--encoding" in refused.stderr
    result = invoke(*args, "--encoding", "cp1252")
    assert result.exit_code == 0, result.output
    if command == "evaluate":
        report = json.loads((workspace / "report" / "report.json").read_text(encoding="utf-8"))
        assert report["metrics"]["n"] == 88
    else:
        texts = pd.read_csv(workspace / "decoded.csv")["text"].tolist()
        assert any("natural gas (Café “Caspian”)" in t for t in texts)


def test_utf16_without_a_byte_order_mark_reads_with_the_encoding_option(workspace):
    result = invoke("label", "utf16_nobom.csv", "--encoding", "utf-16-le", "-o", "decoded.csv",
                    "--no-rules")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(workspace / "decoded.csv")["text"].tolist() == ["Gas."]


# --- labels: conflicts and duplicates are reported, training goes on -----------------------


def test_conflicting_labels_and_duplicates_are_reported_and_recorded(workspace,
                                                                     train_small_path):
    frame = pd.read_csv(train_small_path)
    first = frame.iloc[0]
    extra = pd.DataFrame({"text": [first["text"], frame.iloc[1]["text"]],
                          "themes": ["consular_diaspora", frame.iloc[1]["themes"]],
                          "doc_id": ["D01", "D01"]})
    pd.concat([frame, extra]).to_csv(workspace / "mixed.csv", index=False)
    result = invoke("train", "mixed.csv", "-c", "train.yaml", "-m", "m", "--folds", "0",
                    "-j", "1")
    assert result.exit_code == 0, result.output
    short = first["text"][:39].rstrip() + "…"
    assert result.stderr.splitlines() == [
        f"Warning: 1 text labeled with different themes in different rows: mixed.csv rows 2, "
        f"90 ('{short}': energy_diplomacy vs consular_diaspora); every row is used as labeled",
        "Warning: 1 duplicate row (the same text and themes as an earlier row): mixed.csv row "
        "91; they are kept",
    ]
    meta = json.loads((workspace / "m" / "model.json").read_text(encoding="utf-8"))
    assert meta["training_data"]["sentences"] == 90
    findings = {f["kind"]: f for f in meta["data_findings"]}
    assert findings[CONFLICT]["rows"] == ["mixed.csv:2", "mixed.csv:90"]
    assert findings[DUPLICATE]["rows"] == ["mixed.csv:91"]
    config = load_train_config(workspace / "train.yaml").with_overrides(folds=0)
    result = train([workspace / "mixed.csv"], config=config)
    assert [f.kind for f in result.findings] == [CONFLICT, DUPLICATE]


# --- models --------------------------------------------------------------------------------


def test_another_sklearn_version_is_one_warning_line(workspace):
    meta_path = workspace / "model" / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["sklearn_version"] = "0.0.1"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    result = invoke("predict", *M, "The gas pipeline opened.", "-f", "csv")
    assert result.exit_code == 0, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Warning: model was trained with scikit-learn 0.0.1, this is ")
    assert line.endswith(": predictions may differ; retrain with `policy-themes train` to be "
                         "sure")
    assert pd.read_csv(io.StringIO(result.stdout))["primary"].tolist() == ["energy_diplomacy"]


def test_a_failed_evaluate_leaves_no_reports_folder(workspace):
    assert not (workspace / "reports").exists()
    before = snapshot(workspace)
    result = invoke("evaluate", "header.csv", *M)
    assert_refused(result, "Error: header.csv: the table has a header but no rows", before,
                   workspace)
    assert not os.path.exists(workspace / "reports")
