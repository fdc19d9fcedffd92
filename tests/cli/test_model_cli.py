"""The train, predict, evaluate and info commands, run in-process with typer's CliRunner."""

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.model.store import MODEL_FILE

runner = CliRunner()

ENERGY = "The two ministers discussed the new gas pipeline across the Caspian Sea."
TERROR = "Police arrested members of a drug trafficking network."
PLAIN = "The ceremony ended with a reception."


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_one_error_line(result, expected):
    """Exit code 1, no traceback, and exactly one line: the expected ``Error: ...`` line.

    An expected line ending with "…" is a prefix.
    """
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if expected.endswith("…"):
        assert lines[0].startswith(expected[:-1])
    else:
        assert lines[0] == expected


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "info"])
def test_commands_have_help_with_an_example(command):
    result = invoke(command, "--help", catch_exceptions=False)
    assert result.exit_code == 0
    assert "Example:" in result.output
    example = result.output.split("Example:")[1].strip().splitlines()[0]
    assert example.startswith(f"policy-themes {command}")  # a line of its own, never re-wrapped


# --- train ---------------------------------------------------------------------------------


def test_train_prints_the_summary_and_saves_the_model(tmp_path, train_small_path,
                                                      train_config_path):
    model_dir = tmp_path / "m"
    result = invoke("train", train_small_path, "--config", train_config_path,
                    "--model-dir", model_dir, "--set", "clf__C=1.0", "--folds", "3",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "Trained m"
    assert any(line.split("│")[1].strip() == "cv accuracy" for line in lines if "│" in line)
    row = next(line for line in lines if "training sentences" in line)
    assert row.split("│")[2].strip() == "88"
    accuracy = next(line for line in lines if "cv accuracy" in line).split("│")[2].split()[0]
    meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    assert float(accuracy) == pytest.approx(meta["cv_metrics"]["accuracy"], abs=5e-4)
    assert lines[-1] == f"Report: {model_dir / 'report.md'}"
    assert meta["config"]["params"]["clf__C"] == 1.0
    assert meta["config"]["cv"]["folds"] == 3
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "confusion.png", "model.joblib", "model.json", "model.npz", "report.json", "report.md"]


def test_train_without_cross_validation(tmp_path, train_small_path, train_config_path):
    result = invoke("train", train_small_path, "-c", train_config_path, "-m", tmp_path / "m",
                    "--folds", "0", "--seed", "4", "--jobs", "1", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cv accuracy" not in result.output
    assert result.stdout.splitlines()[-1] == ("No cross-validation (folds: 0): thresholds are "
                                              "the config's default.")
    meta = json.loads((tmp_path / "m" / "model.json").read_text(encoding="utf-8"))
    assert meta["config"]["seed"] == 4 and meta["cv_metrics"] is None


# --- predict -------------------------------------------------------------------------------


def test_predict_prints_a_table(trained_model_dir):
    result = invoke("predict", "--model-dir", trained_model_dir, ENERGY, PLAIN,
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "themes" in line)
    # the most important columns first (each theme of the set with its probability), all
    # that fit in 80 columns
    assert [cell.strip() for cell in header.strip("┃").split("┃")][:2] == ["text", "themes"]
    assert "energy_diplomacy:0." in result.stdout
    assert "│ none:0." in result.stdout


def test_predict_csv_with_top_k(trained_model_dir):
    result = invoke("predict", "-m", trained_model_dir, ENERGY, TERROR, PLAIN,
                    "--format", "csv", "--top-k", "2", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["text", "primary", "probability", "themes",
                                   "theme_probabilities", "top_k"]
    assert frame["text"].tolist() == [ENERGY, TERROR, PLAIN]
    assert frame["primary"].tolist() == ["energy_diplomacy", "counter_terrorism", "none"]
    for row in frame.itertuples():
        pairs = [pair.split(":") for pair in row.top_k.split(";")]
        assert len(pairs) == 2
        assert pairs[0] == [row.primary, f"{row.probability:.4f}"]
        assert float(pairs[0][1]) >= float(pairs[1][1])


def test_predict_jsonl(trained_model_dir):
    result = invoke("predict", "-m", trained_model_dir, ENERGY, PLAIN, "-f", "jsonl",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["primary"] for row in rows] == ["energy_diplomacy", "none"]
    assert rows[0]["text"] == ENERGY
    assert [len(pair) for pair in rows[0]["top_k"]] == [2, 2, 2]  # [theme, probability]
    assert rows[0]["themes"][0] == "energy_diplomacy"  # a list
    assert 0 < rows[0]["probability"] <= 1


def test_predict_explain(trained_model_dir):
    result = invoke("predict", "-m", trained_model_dir, ENERGY, PLAIN, "-f", "csv", "--explain",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)
    assert list(frame.columns)[-2:] == ["why", "rules"]
    why = frame["why"][0].split("; ")
    assert all(part.rsplit(" (+", 1)[1].endswith(")") for part in why)
    assert any(part.startswith(("word:gas ", "word:pipeline ", "rule:energy_diplomacy "))
               for part in why)
    assert "en_hydrocarbons" in frame["rules"][0].split(";")
    assert frame["rules"][1] == ""


def test_predict_reads_standard_input(trained_model_dir):
    text = f"{ENERGY} {TERROR}\n\n{PLAIN}\n"
    result = invoke("predict", "-m", trained_model_dir, "-", "-f", "csv", input=text,
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame["text"].tolist() == [ENERGY, TERROR, PLAIN]
    assert frame["primary"].tolist() == ["energy_diplomacy", "counter_terrorism", "none"]


def test_predict_input_file(trained_model_dir, tmp_path):
    doc = tmp_path / "statement.txt"
    doc.write_text(f"{ENERGY} {TERROR} {PLAIN}", encoding="utf-8")
    result = invoke("predict", "-m", trained_model_dir, "--input", doc, "--format", "csv",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns)[:5] == ["doc_id", "sentence", "start", "end", "text"]
    assert frame["doc_id"].tolist() == ["statement"] * 3
    assert frame["primary"].tolist() == ["energy_diplomacy", "counter_terrorism", "none"]


def test_predict_input_file_prints_every_sentence(trained_model_dir, tmp_path):
    doc = tmp_path / "long.txt"
    doc.write_text(" ".join(f"Gas delivery number {i} arrived." for i in range(70)),
                   encoding="utf-8")
    result = invoke("predict", "-m", trained_model_dir, "-i", doc, "-f", "jsonl",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == [f"Gas delivery number {i} arrived."
                                             for i in range(70)]


def test_predict_input_file_to_out_file(trained_model_dir, tmp_path):
    table = tmp_path / "sentences.csv"
    pd.DataFrame({"text": [PLAIN, ENERGY], "source": ["a", "b"]}).to_csv(table, index=False)
    out = tmp_path / "predicted.parquet"
    result = invoke("predict", "-m", trained_model_dir, "-i", table, "--out", out,
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"2 predictions written to {out}\n"
    frame = pd.read_parquet(out)
    assert frame["text"].tolist() == [PLAIN, ENERGY]
    assert frame["source"].tolist() == ["a", "b"]
    assert frame["primary"].tolist() == ["none", "energy_diplomacy"]


def test_predict_sentences_to_out_file_with_explanations(trained_model_dir, tmp_path):
    out = tmp_path / "predicted.jsonl"
    result = invoke("predict", "-m", trained_model_dir, ENERGY, TERROR, "--explain", "-o", out,
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"2 predictions written to {out}\n"
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["primary"] for row in rows] == ["energy_diplomacy", "counter_terrorism"]
    assert {"why", "rules"} <= set(rows[0])


# --- evaluate and info ---------------------------------------------------------------------


@pytest.fixture
def gold_path(tmp_path):
    path = tmp_path / "dev.csv"
    pd.DataFrame({"text": [ENERGY, TERROR, PLAIN, "Visa rules for students were eased."],
                  "themes": ["energy_diplomacy", "counter_terrorism", "none",
                             "consular_diaspora"]}).to_csv(path, index=False)
    return path


def test_evaluate_writes_the_report(trained_model_dir, gold_path, tmp_path):
    out = tmp_path / "report"
    result = invoke("evaluate", gold_path, "-m", trained_model_dir, "--out", out,
                    "--bootstrap", "50", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "figure" in line)
    assert [c.strip() for c in header.strip("┃").split("┃")] == [
        "figure", "model", "rules alone", "majority class"]
    assert "Evaluation of small on dev.csv" in result.stdout
    assert result.stdout.splitlines()[-1] == f"Report written to {out}/report.md"
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "report.json", "report.md"]


def test_evaluate_default_report_folder(trained_model_dir, gold_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("evaluate", gold_path, "-m", trained_model_dir, "--bootstrap", "0",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "Report written to reports/small-dev/report.md"
    assert (tmp_path / "reports" / "small-dev" / "report.md").is_file()


def test_info_shows_metadata_metrics_and_thresholds(trained_model_dir):
    # wide enough for the training data's path on one line
    result = invoke("info", "--model-dir", trained_model_dir, env={"COLUMNS": "250"},
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    meta = json.loads((trained_model_dir / "model.json").read_text(encoding="utf-8"))
    rows = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    assert rows["training data"].endswith("train_small.csv (88 sentences)")
    assert rows["features"] == "word, rules"
    assert rows["cv accuracy"] == f"{meta['cv_metrics']['accuracy']:.3f}"
    assert rows["sha256 model.joblib"] == meta["sha256"][MODEL_FILE][:16] + "…"
    assert rows["sha256 model.npz"] == meta["sha256"]["model.npz"][:16] + "…"
    assert rows["predicts with"] == "model.npz (NumPy)"
    assert rows["taxonomy"].startswith("default (16 ids, ")
    # "(floor)" beside a threshold at the config's minimum
    assert rows["energy_diplomacy"].startswith(f"{meta['thresholds']['energy_diplomacy']:.3f}")
    assert "Theme thresholds" in result.stdout


# --- errors: one line, exit code 1, nothing written ----------------------------------------


@pytest.fixture
def tampered(model_copy):
    path = model_copy / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    return model_copy


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["predict", "-m", "{tmp}/nope", "Gas."],
         "Error: no model at {tmp}/nope"
     "; point --model-dir (or POLICY_THEMES_MODEL) at a trained model, or run "
     "`policy-themes train`"),
        (["evaluate", "{gold}", "-m", "{tmp}/nope", "-o", "{tmp}/r"],
         "Error: no model at {tmp}/nope"
     "; point --model-dir (or POLICY_THEMES_MODEL) at a trained model, or run "
     "`policy-themes train`"),
        (["info", "-m", "{tmp}/nope"],
         "Error: no model at {tmp}/nope"
     "; point --model-dir (or POLICY_THEMES_MODEL) at a trained model, or run "
     "`policy-themes train`"),
        (["predict", "-m", "{model}"],
         "Error: give sentences, '-' for standard input, or --input FILE"),
        (["predict", "-m", "{model}", "Gas.", "-i", "{gold}", "-o", "{tmp}/x.csv"],
         "Error: give either sentences or --input, not both"),
        (["predict", "-m", "{model}", "Gas.", "-o", "{tmp}/x.xlsx"],
         "Error: {tmp}/x.xlsx: unknown file type (use one of …"),
        (["predict", "-m", "{tampered}", "Gas.", "-o", "{tmp}/x.csv"],
         "Error: {tampered}/model.joblib: SHA-256 does not match model.json; the file is "
         "damaged or was replaced, and is not loaded (a joblib file can run code: load only "
         "models from trusted sources)"),
        (["evaluate", "{gold}", "-m", "{tampered}", "-o", "{tmp}/r"],
         "Error: {tampered}/model.joblib: SHA-256 does not match model.json; the file is "
         "damaged or was replaced, and is not loaded (a joblib file can run code: load only "
         "models from trusted sources)"),
        (["evaluate", "{tmp}/missing.csv", "-m", "{model}", "-o", "{tmp}/r"],
         "Error: {tmp}/missing.csv: no such file"),
        (["train", "{train}", "-c", "{config}", "-m", "{tmp}/m", "--set", "clf__C"],
         "Error: --set 'clf__C': expected step__param=value, e.g. clf__C=0.5"),
        (["train", "{train}", "-c", "{config}", "-m", "{tmp}/m", "--set", "clf__nope=1"],
         "Error: --set clf__nope is not a parameter of the pipeline (steps: "
         "features__word, features__char, features__rules, features__context_words, "
         "features__context_rules, features__embeddings, features__context_embeddings, clf)"),
        (["train", "{train}", "-c", "{config}", "-m", "{tmp}/m", "--folds", "1"],
         "Error: {config}: 'cv.folds' must be 0 (no cross-validation) or >= 2, got 1"),
        (["train", "{bad_train}", "-c", "{config}", "-m", "{tmp}/m"],
         "Error: {bad_train}: unknown theme 'petro_politics' in row 4; known themes: "
         "{known}"),
        (["train", "{train}", "-c", "{tmp}/nope.yaml", "-m", "{tmp}/m"],
         "Error: {tmp}/nope.yaml: training config not found"),
        (["train", "{train}", "-c", "{config}", "-m", "{tmp}/no/m"],
         "Error: {tmp}/no/m: folder {tmp}/no does not exist"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(tmp_path, monkeypatch, trained_model_dir, tampered,
                                             gold_path, train_small_path, train_config_path,
                                             taxonomy, args, expected):
    bad_train = tmp_path / "bad_train.csv"
    bad_train.write_text("text,themes\nGas.,energy_diplomacy\nThanks.,none\n"
                         "Oil.,petro_politics\n", encoding="utf-8")
    places = {"{tmp}": str(tmp_path), "{model}": str(trained_model_dir),
              "{tampered}": str(tampered), "{gold}": str(gold_path),
              "{train}": str(train_small_path), "{config}": str(train_config_path),
              "{bad_train}": str(bad_train), "{known}": ", ".join(taxonomy.ids)}

    def fill(text):
        for key, value in places.items():
            text = text.replace(key, value)
        return text

    monkeypatch.chdir(tmp_path)
    before = listing(tmp_path)
    model_before = listing(trained_model_dir)
    result = invoke(*[fill(a) for a in args], "--jobs", "1") if args[0] == "train" else \
        invoke(*[fill(a) for a in args])
    assert_one_error_line(result, fill(expected))
    assert listing(tmp_path) == before
    assert listing(trained_model_dir) == model_before


def test_a_bad_parameter_value_fails_in_parallel_folds_too(tmp_path, train_small_path,
                                                           train_config_path):
    result = invoke("train", train_small_path, "-c", train_config_path, "-m", tmp_path / "m",
                    "--set", "clf__C=-1", "--jobs", "2")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: --set clf__C: The 'C' parameter of "
                           "LogisticRegression must be a float in the range (0.0, inf]")
    assert not (tmp_path / "m").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_too_few_documents_for_the_folds(tmp_path, train_small_path, train_config_path):
    table = tmp_path / "two_docs.csv"
    frame = pd.read_csv(train_small_path)
    frame["doc_id"] = ["a" if i % 2 else "b" for i in range(len(frame))]
    frame.to_csv(table, index=False)
    result = invoke("train", table, "-c", train_config_path, "-m", tmp_path / "m", "-j", "1")
    assert_one_error_line(result, "Error: too few documents for 3-fold cross-validation grouped "
                                  "by document: 2; add documents or lower the folds (--folds, "
                                  "or cv.folds: 0 to skip)")
    assert not (tmp_path / "m").exists()


def test_an_unknown_print_format_is_a_usage_error_naming_the_choices(trained_model_dir):
    result = invoke("predict", "-m", str(trained_model_dir), "Gas.", "--format", "xml")
    assert result.exit_code == 2
    assert "'xml' is not one of 'table', 'csv', 'jsonl'" in result.output


def test_policy_themes_model_names_the_model_when_no_model_dir_is_given(trained_model_dir,
                                                                        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the project: no models/default here
    monkeypatch.setenv("POLICY_THEMES_MODEL", str(trained_model_dir))
    result = invoke("predict", "Gas.", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("text,primary")
