"""Which model a command uses when none is named: models/default, else the last trained."""

import json

import pytest

from policy_themes.errors import ModelError
from policy_themes.model.locating import (
    DATA_DIR_ENV,
    find_model,
    last_model_file,
    last_trained_model,
    record_trained_model,
)


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "user-data"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


def test_the_recorded_model_is_found_from_another_folder(tmp_path, data_folder, monkeypatch):
    model_dir = tmp_path / "project" / "models" / "default"
    model_dir.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project")
    record = record_trained_model("models/default")
    assert record == data_folder / "last-model.json"
    assert json.loads(record.read_text()) == {"model_dir": str(model_dir)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    chosen = find_model()
    assert (chosen.path, chosen.source) == (model_dir, "last trained")


def test_models_default_of_the_folder_comes_first(tmp_path, data_folder, monkeypatch):
    record_trained_model(tmp_path)
    (tmp_path / "here" / "models" / "default").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "here")
    assert find_model().source == "default"


def test_nothing_found_names_both_ways_to_name_a_model(tmp_path, data_folder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as info:
        find_model()
    message = str(info.value)
    assert message.startswith("no model at models/default, and no model was trained on this "
                              "machine before")
    assert "--model-dir" in message and "POLICY_THEMES_MODEL" in message


def test_a_removed_model_is_said_to_be_gone(tmp_path, data_folder, monkeypatch):
    record_trained_model(tmp_path / "gone")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="the last trained model, .*gone, is gone"):
        find_model()


@pytest.mark.parametrize("content", ["{not json", "[]", '{"model_dir": 3}', "{}"])
def test_a_damaged_record_is_ignored_with_a_warning(data_folder, content):
    data_folder.mkdir()
    last_model_file().write_text(content)
    with pytest.warns(UserWarning, match="last-model.json: ignored, it is damaged"):
        assert last_trained_model() is None
