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
