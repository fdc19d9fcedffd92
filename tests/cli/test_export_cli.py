"""The export command, and predict, evaluate and info reading a shared .skops model."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import skops
import skops.io as sio
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.model.store import META_FILE, MODEL_FILE

runner = CliRunner()

ENERGY = "The two ministers discussed the new gas pipeline across the Caspian Sea."
TERROR = "Police arrested members of a drug trafficking network."


class CreatesMarker:
    """Rebuilding this object from saved state creates a file: proof that its code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __setstate__(self, state):
        Path(state["path"]).write_text("code ran", encoding="utf-8")
        self.__dict__.update(state)


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def assert_one_error_line(result, expected):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected], result.stderr


def table_rows(stdout):
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


@pytest.fixture(scope="module")
def shared_path(trained_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("shared") / "small.skops"
    result = invoke("export", "--model-dir", trained_model_dir, "--out", out,
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_export_has_help_with_an_example():
    result = invoke("export", "--help", catch_exceptions=False)
    assert result.exit_code == 0
    example = result.output.split("Example:")[1].strip().splitlines()[0]
    assert example == "policy-themes export --model-dir models/default --out default.skops"
    assert 'pip install "policy-themes[share]"' in result.output


@pytest.mark.parametrize("command", ["predict", "evaluate", "info"])
def test_model_dir_help_explains_skops_files(command):
    result = invoke(command, "--help", catch_exceptions=False)
    assert "shared .skops model" in " ".join(result.output.split())


def test_export_writes_model_skops_into_the_model_directory(model_copy):
    result = invoke("export", "-m", model_copy, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = model_copy / "model.skops"
    size = out.stat().st_size / 1e6
    assert result.stdout == f"Exported {model_copy} to {out} ({size:.1f} MB)\n"
    assert sorted(p.name for p in model_copy.iterdir()) == [
        "confusion.png", "model.joblib", "model.json", "model.npz", "model.skops", "report.json",
        "report.md"]


def test_predict_with_a_skops_file_matches_the_joblib_model(trained_model_dir, shared_path):
    outputs = []
    for model in (trained_model_dir, shared_path):
        result = invoke("predict", "-m", model, ENERGY, TERROR, "--format", "csv", "-k", "4",
                        catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[1].splitlines()[1].split(",")[1] == "energy_diplomacy"


def test_a_directory_with_model_skops_but_no_joblib_loads_the_skops(model_copy):
    invoke("export", "-m", model_copy, catch_exceptions=False)
    (model_copy / MODEL_FILE).unlink()
    result = invoke("predict", "-m", model_copy, ENERGY, "--format", "csv",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split(",")[1] == "energy_diplomacy"
    rows = table_rows(invoke("info", "-m", model_copy, env={"COLUMNS": "250"},
                             catch_exceptions=False).stdout)
    assert rows["model file"] == str(model_copy / "model.skops")


def test_evaluate_with_a_skops_file(shared_path, tmp_path):
    data = tmp_path / "dev.csv"
    pd.DataFrame({"text": [ENERGY, TERROR],
                  "themes": ["energy_diplomacy", "counter_terrorism"]}).to_csv(data, index=False)
    out = tmp_path / "report"
    result = invoke("evaluate", data, "-m", shared_path, "--out", out, "--bootstrap", "0",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Evaluation of small on dev.csv" in result.stdout
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_info_shows_a_skops_file(trained_model_dir, shared_path):
    result = invoke("info", "-m", shared_path, env={"COLUMNS": "250"},  # paths on one line
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    meta = json.loads((trained_model_dir / META_FILE).read_text(encoding="utf-8"))
    rows = table_rows(result.stdout)
    assert rows["model file"] == str(shared_path)
    assert rows["format"] == f"skops {skops.__version__} (no pickle)"
    assert rows["sha256 source model.joblib"] == meta["sha256"][MODEL_FILE][:16] + "…"
    assert rows["training data"].endswith("(88 sentences)")
    assert rows["cv accuracy"] == f"{meta['cv_metrics']['accuracy']:.3f}"
    assert "model directory" not in rows
    assert "Theme thresholds" in result.stdout


# --- errors: one line, exit code 1 -----------------------------------------------------------


@pytest.fixture
def evil_path(tmp_path):
    """A .skops file carrying an instance of a class defined here."""
    path = tmp_path / "evil.skops"
    sio.dump({"pipeline": CreatesMarker(tmp_path / "code-ran")}, path)
    return path


@pytest.mark.parametrize("command", [
    ["predict", "-m", "{evil}", "Gas."],
    ["evaluate", "{evil}", "-m", "{evil}", "-o", "{tmp}/r"],
    ["info", "-m", "{evil}"],
])
def test_a_foreign_type_is_refused_and_its_code_never_runs(tmp_path, evil_path, command):
    args = [a.format(evil=evil_path, tmp=tmp_path) for a in command]
    result = invoke(*args)
    name = f"{CreatesMarker.__module__}.CreatesMarker"
    assert_one_error_line(result, f"Error: {evil_path}: refused, it names types that are not "
                                  f"on policy-themes' allow-list: {name}; nothing was loaded "
                                  "(load only models exported by `policy-themes export`)")
    assert not (tmp_path / "code-ran").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["predict", "-m", "{tmp}/nope.skops", "Gas."],
     "Error: no shared model at {tmp}/nope.skops: the .skops file does not exist"),
    (["info", "-m", "{tmp}/garbage.skops"],
     "Error: {tmp}/garbage.skops: not a readable .skops model (BadZipFile: File is not a zip "
     "file)"),
    (["export", "-m", "{tmp}/nope"],
     "Error: no model at {tmp}/nope"
     "; point --model-dir (or POLICY_THEMES_MODEL) at a trained model, or run "
     "`policy-themes train`"),
    (["export", "-m", "{model}", "--out", "{tmp}/no/m.skops"],
     "Error: {tmp}/no/m.skops: folder {tmp}/no does not exist"),
    (["export", "-m", "{model}", "--out", "{tmp}/m.pkl"],
     "Error: {tmp}/m.pkl: a shared model file must end in .skops"),
])
def test_bad_paths_give_one_line_and_exit_1(tmp_path, trained_model_dir, args, expected):
    (tmp_path / "garbage.skops").write_bytes(b"not a zip")
    places = {"tmp": tmp_path, "model": trained_model_dir}
    result = invoke(*[a.format(**places) for a in args])
    assert_one_error_line(result, expected.format(**places))
    assert not (tmp_path / "m.skops").exists()


def test_an_unknown_format_is_a_usage_error_naming_the_choices(tmp_path, trained_model_dir):
    result = invoke("export", "-m", str(trained_model_dir), "--out", str(tmp_path / "m.skops"),
                    "--format", "onnx")
    assert result.exit_code == 2
    assert "'onnx' is not one of 'skops'" in result.output
    assert not (tmp_path / "m.skops").exists()


def test_without_skops_the_error_says_what_to_install(trained_model_dir, shared_path, tmp_path,
                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    expected = 'Error: sharing models needs skops: pip install "policy-themes[share]"'
    assert_one_error_line(invoke("export", "-m", trained_model_dir, "-o", tmp_path / "m.skops"),
                          expected)
    assert_one_error_line(invoke("info", "-m", shared_path), expected)
