"""Issue 23, the first hour of a new user: what the commands print, run with CliRunner."""

import json

import pytest
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.model.locating import DATA_DIR_ENV, last_model_file, record_trained_model

runner = CliRunner()

ENERGY = "The two ministers discussed the new gas pipeline across the Caspian Sea."
PLAIN = "The ceremony ended with a reception."


def invoke(*args, env=None, **kwargs):
    return runner.invoke(app, [str(a) for a in args], env=env, **kwargs)


# --- the last trained model ----------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A folder with no models/default, and a user data folder of its own."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "user-data"))
    monkeypatch.delenv("POLICY_THEMES_MODEL", raising=False)
    return folder


def test_train_records_the_model_it_wrote(tmp_path, elsewhere, train_small_path,
                                          train_config_path):
    result = invoke("train", train_small_path, "--config", train_config_path, "--folds", "0",
                    "--model-dir", tmp_path / "mine", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(last_model_file().read_text()) == {"model_dir": str(tmp_path / "mine")}


@pytest.mark.parametrize("command", [["predict", PLAIN], ["info"]])
def test_commands_fall_back_to_the_last_trained_model_and_say_so(elsewhere, trained_model_dir,
                                                                 command):
    record_trained_model(trained_model_dir)
    result = invoke(*command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        f"Using the last trained model, {trained_model_dir} (there is no models/default here; "
        "--model-dir names another)")


def test_evaluate_falls_back_to_the_last_trained_model(elsewhere, trained_model_dir,
                                                       train_small_path):
    record_trained_model(trained_model_dir)
    result = invoke("evaluate", train_small_path, "--bootstrap", "0", "--out", "report",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Using the last trained model" in result.stderr


def test_no_model_anywhere_names_model_dir_and_the_variable(elsewhere):
    result = invoke("predict", PLAIN)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no model at models/default, and no model was trained on this machine before; "
        "name one with --model-dir DIR (or set POLICY_THEMES_MODEL=DIR), or train one with "
        "`policy-themes train`\n")


def test_a_damaged_record_is_a_warning_not_a_traceback(elsewhere):
    last_model_file().parent.mkdir(parents=True)
    last_model_file().write_text("{oops")
    result = invoke("info")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Warning: ") and "last-model.json: ignored" in lines[0]
    assert lines[1].startswith("Error: no model at models/default")


# --- tables that fit the terminal ------------------------------------------------------------


def load_model_probabilities(model_dir):
    from policy_themes.model.theme_model import load_model

    return load_model(model_dir).predict([ENERGY, PLAIN])["probability"].tolist()


def predicted_pairs(model_dir, texts):
    from policy_themes.model.theme_model import format_top_k, load_model

    frame = load_model(model_dir).predict(texts)
    return [pair for cells in (frame["theme_probabilities"], frame["top_k"])
            for cell in cells for pair in format_top_k(cell).split(";")]


@pytest.mark.parametrize(("columns", "shown", "left_out"),
                         [(80, ["text", "themes"], "top_k, primary, probability"),
                          (120, ["text", "themes", "top_k", "primary", "probability"], None)])
def test_predict_table_fits_the_width_and_splits_no_theme(trained_model_dir, columns, shown,
                                                           left_out):
    result = invoke("predict", "-m", trained_model_dir, ENERGY, PLAIN,
                    env={"COLUMNS": str(columns)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= columns
    header = next(line for line in lines if "text" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == shown
    if left_out:
        assert lines[-1].rstrip() == f"left out, too narrow (COLUMNS={columns}): {left_out}"
    else:
        assert "left out" not in result.stdout
    theme_cells = [cell.strip() for line in lines if line.startswith("│")
                   for cell in line.strip("│").split("│")[1:]]
    pairs = predicted_pairs(trained_model_dir, [ENERGY, PLAIN])
    # every theme:probability pair whole, on its own line
    shown_pairs = [cell for cell in theme_cells if cell]
    probabilities = {f"{p:.4f}" for p in load_model_probabilities(trained_model_dir)}
    assert shown_pairs
    assert set(shown_pairs) <= set(pairs) | {"energy_diplomacy", "none"} | probabilities


def test_predict_piped_is_80_columns_and_honours_columns(trained_model_dir):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    command = [sys.executable, "-m", "policy_themes", "predict", "-m", str(trained_model_dir),
               ENERGY]
    piped = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, check=True)
    assert max(map(len, piped.stdout.splitlines())) == 80
    wide = subprocess.run(command, env={**env, "COLUMNS": "150"}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=True)
    assert max(map(len, wide.stdout.splitlines())) == 150
    assert "left out" not in wide.stdout


def test_label_tables_fit_80_columns_without_cutting_a_rule(seed_path, taxonomy):
    result = invoke("label", seed_path, "--rules", env={"COLUMNS": "80"},
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert max(map(len, result.stdout.splitlines())) <= 80
    assert "…" not in result.stdout
    rule_ids = {rule.name for rule in taxonomy.rules}
    rows = [line.strip("│").split("│")[0].strip() for line in result.stdout.splitlines()
            if line.startswith("│")]
    assert set(rows) & rule_ids  # rules named whole


# --- JSON lines and one precision ---------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_written_predictions_have_4_decimals_and_json_lists(trained_model_dir, seed_path,
                                                            tmp_path, suffix):
    import pandas as pd

    from policy_themes.model.theme_model import format_top_k, load_model

    out = tmp_path / f"predicted{suffix}"
    result = invoke("predict", "-m", trained_model_dir, "-i", seed_path, "--out", out,
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        frame = pd.DataFrame(rows)
        assert all(isinstance(themes, list) for themes in frame["themes"])
        pairs = frame["theme_probabilities"].map(format_top_k)
        top = frame["top_k"].map(format_top_k)
        assert [themes[0] for themes in frame["themes"]] == frame["primary"].tolist()
    else:
        frame = (pd.read_parquet(out) if suffix == ".parquet"
                 else pd.read_csv(out, keep_default_na=False))
        pairs, top = frame["theme_probabilities"], frame["top_k"]
    expected = load_model(trained_model_dir).predict(frame["text"].tolist())
    assert pairs.tolist() == expected["theme_probabilities"].map(format_top_k).tolist()
    assert top.tolist() == expected["top_k"].map(format_top_k).tolist()
    assert frame["probability"].tolist() == expected["probability"].round(4).tolist()
    assert all(len(p.rpartition(":")[2]) == 6 for cell in top for p in cell.split(";"))


# --- label on a small input shows its sentences -------------------------------------------

TERMINAL = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "100"}


def plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_label_of_a_small_document_shows_each_sentence_first(seed_path):
    result = invoke("label", seed_path, env=TERMINAL, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    output = plain(result.stdout)
    lines = output.splitlines()
    assert lines[0].strip() == "Sentences"
    assert output.index("Sentences") < output.index("Rules: overall")
    rows = [line for line in lines if line.startswith("│ ") and line[2:4].strip().isdigit()]
    assert [int(line[2:4]) for line in rows] == list(range(1, 13))
    assert "│ 12 │ You Might Also Like" in output
    assert "\nRules\n" not in output + "\n"  # no per-rule table: a short summary
    assert "│ security_defense" in output


def test_label_shows_no_sentences_with_out_or_piped(seed_path, tmp_path):
    written = invoke("label", seed_path, "--out", tmp_path / "l.csv", env=TERMINAL,
                     catch_exceptions=False)
    piped = invoke("label", seed_path, env={"COLUMNS": "100"}, catch_exceptions=False)
    for result in (written, piped):
        assert result.exit_code == 0, result.output
        assert "Sentences" not in result.stdout
        assert "Rules per theme" in result.stdout
    assert plain(piped.stdout).splitlines()[0].strip() == "Rules: overall"
    assert "\nRules" in piped.stdout  # the per-rule table


def test_label_rules_option_still_shows_the_rule_table_for_a_small_input(seed_path):
    result = invoke("label", seed_path, "--rules", env=TERMINAL, catch_exceptions=False)
    assert "Sentences" in result.stdout
    assert "fp_doctrine" in plain(result.stdout).split("Rules per theme")[1]


# --- info easy to scan -----------------------------------------------------------------------


def edited_model(model_copy, **changes):
    meta_path = model_copy / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        meta[key] = value(meta) if callable(value) else value
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return model_copy


def test_info_names_the_shipped_data_and_the_thresholds_at_the_floor(model_copy):
    from policy_themes.resources import resource_path

    shipped = [str(resource_path("data/labeled/sentences.csv"))]
    floor = json.loads((model_copy / "model.json").read_text())["config"]["thresholds"][
        "minimum"]

    def some_at_the_floor(meta):
        first = next(iter(meta["thresholds"]))
        return {**meta["thresholds"], first: floor}

    model = edited_model(model_copy, thresholds=some_at_the_floor,
                         training_data=lambda m: {**m["training_data"], "files": shipped})
    result = invoke("info", "-m", model, env={"COLUMNS": "100"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    sentences = json.loads((model / "model.json").read_text())["training_data"]["sentences"]
    assert f"│ training data       │ the shipped data ({sentences:,} sentences)" in result.stdout
    assert "site-packages" not in result.stdout and "data/labeled" not in result.stdout
    assert "│ cv sentences scored │" in result.stdout
    assert f"{floor:.3f} (floor)" in result.stdout


def test_info_says_once_that_every_threshold_is_at_the_floor(model_copy):
    floor = json.loads((model_copy / "model.json").read_text())["config"]["thresholds"][
        "minimum"]
    model = edited_model(model_copy,
                         thresholds=lambda m: dict.fromkeys(m["thresholds"], floor))
    result = invoke("info", "-m", model, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    count = len(json.loads((model / "model.json").read_text())["thresholds"])
    assert result.stdout.splitlines()[-1] == (
        f"Theme thresholds: all {count} at the floor, {floor:.3f} (the config's "
        "thresholds.minimum): cross-validation chose none above it")


# --- the first compile is announced ---------------------------------------------------------


def run_with_terminal_stderr(command, env):
    """Run a command with its stderr on a pseudo-terminal; its stderr text."""
    import os
    import pty
    import subprocess

    main, terminal = pty.openpty()
    try:
        subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=terminal, check=True, timeout=300)
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def test_predict_says_once_that_it_compiles_the_kernels(trained_model_dir, tmp_path):
    import os
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    command = [sys.executable, "-m", "policy_themes", "predict", "-m", str(trained_model_dir),
               ENERGY]
    first = run_with_terminal_stderr(command, env)
    assert "Note: compiling the fast kernels once (about " in first
    assert "later runs start in about a second" in first
    later = run_with_terminal_stderr(command, env)
    assert "compiling" not in later


def test_profile_reads_predictions_written_as_jsonl_csv_or_parquet(trained_model_dir, tmp_path,
                                                                  train_small_path):
    import pandas as pd

    from policy_themes.workflows.profiles import profile

    table = pd.read_csv(train_small_path)[["doc_id", "text"]]
    table["iso3"] = ["AZE" if i % 2 else "GEO" for i in range(len(table))]
    source = tmp_path / "speeches.csv"
    table.to_csv(source, index=False)
    shares = []
    for suffix in (".csv", ".jsonl", ".parquet"):
        out = tmp_path / f"predicted{suffix}"
        result = invoke("predict", "-m", trained_model_dir, "-i", source, "--out", out,
                        catch_exceptions=False)
        assert result.exit_code == 0, result.output
        shares.append(profile(out, by=["iso3"], n_boot=20).shares)
    for other in shares[1:]:
        pd.testing.assert_frame_equal(other, shares[0], check_dtype=False)
