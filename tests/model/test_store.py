import json
import os
import pickle
import subprocess
import sys
import time
import warnings

import pandas as pd
import pytest
import sklearn

import policy_themes
from policy_themes.config import load_train_config
from policy_themes.errors import ModelError
from policy_themes.io.checksums import file_sha256
from policy_themes.model.store import (
    META_FILE,
    MODEL_FILE,
    ModelVersionWarning,
    load_pipeline,
    read_meta,
    save_model,
)
from policy_themes.model.theme_model import load_model
from policy_themes.workflows.saving import save_trained
from policy_themes.workflows.training import train

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXTS = ["The new gas pipeline will carry Caspian gas to Europe.",
         "The embassy helps citizens who lost their passports abroad.",
         "Border guards seized a shipment of narcotics.",
         "The talks lasted two hours."]


class CreatesMarker:
    """Unpickling this object creates a file: it stands for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def entries(folder):
    return sorted(p.name for p in folder.iterdir())


def write_meta(model_dir, **changes):
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    meta.update(changes)
    (model_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")


def test_model_directory_holds_model_meta_and_report(trained_model_dir):
    assert entries(trained_model_dir) == ["confusion.png", "model.joblib", "model.json",
                                          "model.npz", "report.json", "report.md"]
    assert (trained_model_dir / "confusion.png").read_bytes().startswith(PNG_SIGNATURE)
    report = (trained_model_dir / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Training report: small (3-fold cross-validation)\n")
    data = json.loads((trained_model_dir / "report.json").read_text(encoding="utf-8"))
    assert data["metrics"]["n"] == 88


def test_model_json_records_provenance(trained_model_dir, taxonomy, train_small_path,
                                       train_config_path):
    meta = json.loads((trained_model_dir / META_FILE).read_text(encoding="utf-8"))
    assert meta["format"] == 1
    assert meta["name"] == "small"
    assert meta["package_version"] == policy_themes.__version__
    assert meta["sklearn_version"] == sklearn.__version__
    assert meta["taxonomy"]["ids"] == taxonomy.ids
    assert meta["taxonomy"]["fingerprint"] == taxonomy.fingerprint
    assert meta["config"] == load_train_config(train_config_path).to_dict()
    assert meta["config_source"] == str(train_config_path)
    data = meta["training_data"]
    assert data["files"] == [str(train_small_path)]
    assert data["sentences"] == 88
    assert len(data["fingerprint"]) == 64
    assert data["weak_labels"] is False
    assert data["primary_counts"]["none"] == 22
    assert meta["cv_metrics"]["n"] == 88
    assert 0.8 < meta["cv_metrics"]["accuracy"] <= 1
    assert len(meta["cv_metrics"]["accuracy_ci"]) == 2
    assert meta["thresholds"]["energy_diplomacy"] == pytest.approx(
        load_model(trained_model_dir).thresholds["energy_diplomacy"])
    assert meta["sha256"] == {MODEL_FILE: file_sha256(trained_model_dir / MODEL_FILE),
                              "model.npz": file_sha256(trained_model_dir / "model.npz")}
    assert read_meta(trained_model_dir) == meta


def test_save_load_round_trip_gives_identical_predictions(train_small_path, train_config_path,
                                                          tmp_path):
    result = train([train_small_path], config=train_config_path, model_dir=tmp_path / "m")
    clf = result.pipeline.named_steps["clf"]
    expected = clf.predict_themes(result.pipeline[:-1].transform(TEXTS))
    loaded = load_model(tmp_path / "m").predict_arrays(TEXTS)
    assert loaded[0] == expected[0] == ["energy_diplomacy", "consular_diaspora",
                                        "counter_terrorism", "none"]
    assert loaded[1] == expected[1]
    assert (loaded[2] == expected[2]).all() and (loaded[3] == expected[3]).all()


def test_without_cross_validation_there_is_no_report(train_small_path, train_config_path,
                                                     tmp_path):
    config = load_train_config(train_config_path).with_overrides(folds=0)
    train([train_small_path], config=config, model_dir=tmp_path / "m")
    assert entries(tmp_path / "m") == ["model.joblib", "model.json", "model.npz"]
    assert read_meta(tmp_path / "m")["cv_metrics"] is None


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_model_file_is_refused(model_copy, damage):
    path = model_copy / MODEL_FILE
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        load_model(model_copy)
    assert str(info.value) == (
        f"{path}: SHA-256 does not match model.json; the file is damaged or was replaced, and "
        "is not loaded (a joblib file can run code: load only models from trusted sources)"
    )


def test_a_replaced_model_file_is_refused_before_unpickling(model_copy, tmp_path):
    marker = tmp_path / "code-ran"
    with open(model_copy / MODEL_FILE, "wb") as handle:
        pickle.dump(CreatesMarker(marker), handle)
    with pytest.raises(ModelError, match="SHA-256 does not match model.json"):
        load_model(model_copy)
    assert not marker.exists()
    # with a matching hash and no model.npz, load_model still never unpickles it ...
    write_meta(model_copy, sha256={MODEL_FILE: file_sha256(model_copy / MODEL_FILE)})
    with pytest.raises(ModelError, match="no model.npz, the model's arrays"):
        load_model(model_copy)
    assert not marker.exists()
    # ... the control: trusted explicitly, the same file is unpickled, and its code runs
    with pytest.raises(ModelError, match="does not hold a policy-themes pipeline"):
        load_model(model_copy, trust_pickle=True)
    assert marker.exists()


def test_a_damaged_file_with_a_matching_hash_is_a_model_error(model_copy):
    path = model_copy / MODEL_FILE
    path.write_bytes(path.read_bytes()[:200])
    write_meta(model_copy, sha256={MODEL_FILE: file_sha256(path)})
    with pytest.raises(ModelError, match=r"model\.joblib: cannot be loaded \(.*\); retrain it$"):
        load_pipeline(model_copy)


def test_missing_model_directory_says_to_train(tmp_path):
    with pytest.raises(ModelError) as info:
        load_model(tmp_path / "nope")
    assert str(info.value) == (f"no model at {tmp_path / 'nope'}; point --model-dir (or "
                               "POLICY_THEMES_MODEL) at a trained model, or run "
                               "`policy-themes train`")


def test_missing_or_damaged_model_json(model_copy):
    (model_copy / META_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"model\.json: unreadable or damaged"):
        load_model(model_copy)
    (model_copy / META_FILE).unlink()
    with pytest.raises(ModelError) as info:
        load_model(model_copy)
    assert str(info.value) == f"{model_copy}: no model.json; not a model directory"


def test_another_format_is_refused(model_copy):
    write_meta(model_copy, format=2)
    with pytest.raises(ModelError, match="model format 2 is not 1; retrain it with this version"):
        load_model(model_copy)


def test_missing_model_file(model_copy):
    (model_copy / MODEL_FILE).unlink()
    with pytest.raises(ModelError) as info:
        load_model(model_copy)
    assert str(info.value) == (f"{model_copy}: no model.joblib; retrain with "
                               "`policy-themes train`")


def test_another_sklearn_version_warns_and_still_loads(model_copy):
    write_meta(model_copy, sklearn_version="0.0.1")
    with pytest.warns(ModelVersionWarning, match=f"trained with scikit-learn 0.0.1, this is "
                                                 f"{sklearn.__version__}"):
        model = load_model(model_copy)
    assert model.predict(TEXTS[:1])["primary"][0] == "energy_diplomacy"


def test_another_package_version_warns(model_copy):
    write_meta(model_copy, package_version="0.0.0")
    with pytest.warns(ModelVersionWarning, match="trained with policy-themes 0.0.0"):
        load_model(model_copy)


def test_the_same_sklearn_version_does_not_warn(trained_model_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        load_model(trained_model_dir)


def test_an_existing_model_is_replaced(model_copy, train_small_path, train_config_path):
    (model_copy / "stale.txt").write_text("old run", encoding="utf-8")
    old_sha = file_sha256(model_copy / MODEL_FILE)
    config = load_train_config(train_config_path).with_overrides(folds=0, params={"clf__C": 1.0})
    train([train_small_path], config=config, model_dir=model_copy)
    assert entries(model_copy) == ["model.joblib", "model.json", "model.npz"]
    assert read_meta(model_copy)["config"]["params"]["clf__C"] == 1.0
    assert file_sha256(model_copy / MODEL_FILE) != old_sha
    assert entries(model_copy.parent) == ["model"]  # no lock, temporary or old folder left


def test_a_failed_save_keeps_the_old_model(model_copy):
    before = load_model(model_copy).predict(TEXTS)
    sha = file_sha256(model_copy / MODEL_FILE)
    siblings = entries(model_copy.parent)

    def fail(folder):
        assert (folder / MODEL_FILE).is_file() and (folder / META_FILE).is_file()
        raise RuntimeError("disk full")

    other, _ = load_pipeline(model_copy)
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(model_copy, other, {"name": "new"}, write_extra=fail)
    assert file_sha256(model_copy / MODEL_FILE) == sha
    assert read_meta(model_copy)["name"] == "small"
    pd.testing.assert_frame_equal(load_model(model_copy).predict(TEXTS), before)
    assert entries(model_copy.parent) == siblings


def test_a_folder_that_is_not_a_model_is_not_replaced(tmp_path, trained_model_dir):
    target = tmp_path / "notes"
    target.mkdir()
    (target / "thesis.docx").write_text("precious", encoding="utf-8")
    pipeline, _ = load_pipeline(trained_model_dir)
    with pytest.raises(ModelError) as info:
        save_model(target, pipeline, {})
    assert str(info.value) == (f"{target}: exists and is not a model directory; choose another "
                               "--model-dir")
    assert entries(target) == ["thesis.docx"]
    assert entries(tmp_path) == ["notes"]


def test_train_checks_the_model_dir_before_training(tmp_path, train_small_path,
                                                    train_config_path, monkeypatch):
    import policy_themes.workflows.training as training

    target = tmp_path / "notes"
    target.mkdir()
    (target / "thesis.docx").write_text("precious", encoding="utf-8")

    def fail(*args, **kwargs):
        raise AssertionError("trained although the model directory is unusable")

    monkeypatch.setattr(training, "train_model", fail)
    with pytest.raises(ModelError, match="exists and is not a model directory"):
        train([train_small_path], config=train_config_path, model_dir=target)


def test_a_missing_parent_folder(tmp_path, trained_model_dir):
    pipeline, _ = load_pipeline(trained_model_dir)
    target = tmp_path / "no" / "model"
    with pytest.raises(ModelError) as info:
        save_model(target, pipeline, {})
    assert str(info.value) == f"{target}: folder {tmp_path / 'no'} does not exist"


def test_a_live_lock_is_respected(model_copy):
    lock = model_copy.parent / f".{model_copy.name}.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         f"held = FileLock({str(lock)!r}); held.acquire(); print('held', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        pipeline, _ = load_pipeline(model_copy)
        sha = file_sha256(model_copy / MODEL_FILE)
        with pytest.raises(ModelError) as info:
            save_model(model_copy, pipeline, {"name": "new"})
    finally:
        holder.kill()
        holder.wait()
    assert str(info.value) == (f"{model_copy}: another run is writing this model directory "
                               f"(lock {lock}); wait for it to finish")
    assert file_sha256(model_copy / MODEL_FILE) == sha
    assert read_meta(model_copy)["name"] == "small"


def test_the_lock_of_a_dead_run_is_taken_over(model_copy):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = model_copy.parent / f".{model_copy.name}.lock"
    lock.write_text(str(dead.pid), encoding="utf-8")
    pipeline, _ = load_pipeline(model_copy)
    save_model(model_copy, pipeline, {"name": "new"})
    assert read_meta(model_copy)["name"] == "new"
    assert not lock.exists()


def test_an_empty_lock_left_over_is_taken_over(model_copy):
    lock = model_copy.parent / f".{model_copy.name}.lock"
    lock.write_text("", encoding="utf-8")
    old = time.time() - 120
    os.utime(lock, (old, old))
    pipeline, _ = load_pipeline(model_copy)
    save_model(model_copy, pipeline, {"name": "new"})
    assert read_meta(model_copy)["name"] == "new"


def test_save_trained_returns_the_directory(train_small_path, train_config_path, tmp_path):
    config = load_train_config(train_config_path).with_overrides(folds=0)
    result = train([train_small_path], config=config)
    assert save_trained(result, tmp_path / "m") == tmp_path / "m"
    assert read_meta(tmp_path / "m")["training_data"]["sentences"] == 88
