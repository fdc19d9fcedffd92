"""Sharing a model as a .skops file: export, the allow-list of types, and loading without pickle."""

import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio

from policy_themes.errors import ModelError
from policy_themes.model import sharing
from policy_themes.model.sharing import (
    ALLOWED_TYPES,
    SKOPS_FILE,
    export_model,
    load_skops,
    read_model_meta,
    skops_model_file,
)
from policy_themes.model.store import META_FILE, MODEL_FILE, ModelVersionWarning, load_pipeline
from policy_themes.model.theme_model import load_model

TEXTS = ["The new gas pipeline will carry Caspian gas to Europe.",
         "The embassy helps citizens who lost their passports abroad.",
         "Border guards seized a shipment of narcotics.",
         "The talks lasted two hours."]


class CreatesMarker:
    """Rebuilding this object from saved state creates a file: it stands for any code a foreign
    class can run while it is loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __setstate__(self, state):
        Path(state["path"]).write_text("code ran", encoding="utf-8")
        self.__dict__.update(state)


MARKER_TYPE = f"{CreatesMarker.__module__}.{CreatesMarker.__qualname__}"


@pytest.fixture(scope="module")
def shared_path(trained_model_dir, tmp_path_factory):
    """The session's small model exported once to a .skops file outside its directory."""
    return export_model(trained_model_dir, tmp_path_factory.mktemp("shared") / "small.skops")


def schema_types(path):
    """Every ``module.Name`` the file's schema mentions (read as JSON: nothing is built)."""
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


# --- export and load ----------------------------------------------------------------------


def test_export_then_load_gives_identical_predictions(trained_model_dir, shared_path,
                                                      train_small_path):
    texts = pd.read_csv(train_small_path)["text"].tolist() + TEXTS
    original = load_model(trained_model_dir, trust_pickle=True)  # explain reads model.joblib
    shared = load_model(shared_path)
    pd.testing.assert_frame_equal(shared.predict(texts, top_k=5), original.predict(texts, top_k=5))
    primary, sets, proba, membership = shared.predict_arrays(texts)
    expected = original.predict_arrays(texts)
    assert (primary, sets) == (expected[0], expected[1])
    assert (proba == expected[2]).all() and (membership == expected[3]).all()
    assert shared.explain(TEXTS) == original.explain(TEXTS)
    assert shared.path == shared_path
    assert shared.name == "small"
    assert shared.thresholds == original.thresholds


def test_the_file_carries_the_metadata(trained_model_dir, shared_path):
    meta = json.loads((trained_model_dir / META_FILE).read_text(encoding="utf-8"))
    shared_meta = read_model_meta(shared_path)
    section = shared_meta.pop("shared")
    assert shared_meta == {k: v for k, v in meta.items() if k != "sha256"}
    assert section["format"] == "skops"
    assert section["source_sha256"] == meta["sha256"][MODEL_FILE]
    assert section["skops_version"]
    assert section["exported"].endswith("+00:00")


def test_the_file_is_one_deflated_zip(shared_path):
    with zipfile.ZipFile(shared_path) as archive:
        infos = archive.infolist()
    assert "schema.json" in [i.filename for i in infos]
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    assert oct(shared_path.stat().st_mode & 0o777) == "0o644"


def test_the_allow_list_covers_every_type_of_a_real_pipeline(shared_path):
    # accepting our own models must not depend on what this skops version trusts by default
    foreign = {t for t in schema_types(shared_path) if not t.startswith("builtins.")}
    assert foreign <= ALLOWED_TYPES
    assert {"policy_themes.model.classifier.RuleVotes", "policy_themes.rules.taxonomy.Taxonomy",
            "sklearn.pipeline.Pipeline"} <= foreign


def test_the_allow_list_holds_exact_names_only():
    for name in ALLOWED_TYPES:
        module, _, cls = name.rpartition(".")
        assert module and cls and "*" not in name
        assert module.split(".")[0] in {"policy_themes", "sklearn", "numpy", "builtins"}


@pytest.mark.parametrize("name", [
    "policy_themes.model.classifier.InputFrame.evil",    # longer than an allowed name
    "policy_themes.model.classifier",                    # shorter
    "policy_themes_evil.pipeline.InputFrame",    # a look-alike package
    "sklearn.pipeline.Pipelines",
    "numpy.ndarray2",
])
def test_names_match_exactly_never_by_prefix(name):
    assert sharing._refused([name, "numpy.ndarray"]) == [name]


def test_default_out_is_model_skops_in_the_model_directory(model_copy):
    assert export_model(model_copy) == model_copy / SKOPS_FILE
    assert sorted(p.name for p in model_copy.iterdir() if p.name.startswith(".")) == []
    # model.joblib wins while it is there; without it the directory loads its model.skops
    assert skops_model_file(model_copy) is None
    assert load_model(model_copy).path == model_copy
    (model_copy / MODEL_FILE).unlink()
    assert skops_model_file(model_copy) == model_copy / SKOPS_FILE
    model = load_model(model_copy)
    assert model.path == model_copy / SKOPS_FILE
    assert model.predict(TEXTS)["primary"][0] == "energy_diplomacy"


def test_export_replaces_an_existing_file(shared_path, trained_model_dir, tmp_path):
    out = tmp_path / "m.skops"
    out.write_bytes(b"old")
    export_model(trained_model_dir, out)
    assert load_skops(out)[1]["name"] == "small"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skops"]


# --- refusing foreign types: nothing is built, no code runs ------------------------------------


def test_the_marker_class_runs_code_when_trusted(tmp_path):
    # the control experiment: loading this file with its class trusted does run the class's code
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.skops"
    sio.dump({"payload": CreatesMarker(marker)}, path)
    sio.load(path, trusted=[MARKER_TYPE])
    assert marker.read_text(encoding="utf-8") == "code ran"


def test_a_foreign_class_is_refused_and_its_code_never_runs(trained_model_dir, tmp_path):
    marker = tmp_path / "code-ran"
    pipeline, meta = load_pipeline(trained_model_dir)
    path = tmp_path / "evil.skops"
    sio.dump({"policy_themes_shared_format": 1, "model_json": json.dumps(meta),
              "pipeline": pipeline, "payload": CreatesMarker(marker)}, path)
    for load in (load_skops, load_model, read_model_meta):
        with pytest.raises(ModelError) as info:
            load(path)
        assert str(info.value) == (
            f"{path}: refused, it names types that are not on policy-themes' allow-list: "
            f"{MARKER_TYPE}; nothing was loaded (load only models exported by "
            "`policy-themes export`)")
    assert not marker.exists()


def test_a_foreign_module_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "planted_module.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
        "class Thing:\n    pass\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import planted_module

    path = tmp_path / "planted.skops"
    sio.dump({"pipeline": planted_module.Thing()}, path)
    marker.unlink()
    monkeypatch.delitem(sys.modules, "planted_module")
    with pytest.raises(ModelError, match=r"allow-list: planted_module\.Thing;"):
        load_model(path)
    assert "planted_module" not in sys.modules
    assert not marker.exists()


def test_a_reference_to_a_function_is_refused(tmp_path):
    path = tmp_path / "functions.skops"
    sio.dump({"pipeline": None, "a": eval, "b": subprocess.getoutput}, path)
    with pytest.raises(ModelError, match=r"allow-list: builtins\.eval, subprocess\.getoutput;"):
        load_model(path)


def test_a_skops_file_of_something_else_is_refused(tmp_path):
    path = tmp_path / "other.skops"
    sio.dump({"a": [1, 2]}, path)
    with pytest.raises(ModelError, match=r"other\.skops: not a policy-themes model \(shared "
                                         r"format None, expected 1\)"):
        load_model(path)


def test_damaged_and_missing_files(shared_path, tmp_path):
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ModelError, match=r"garbage\.skops: not a readable \.skops model "
                                         r"\(BadZipFile"):
        load_model(garbage)
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(shared_path.read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"truncated\.skops: not a readable \.skops model"):
        load_model(truncated)
    with pytest.raises(ModelError, match=r"^no shared model at .*nope\.skops: the \.skops file "
                                         r"does not exist$"):
        load_model(tmp_path / "nope.skops")


def test_another_sklearn_version_warns(shared_path, tmp_path):
    content = sio.load(shared_path, trusted=sio.get_untrusted_types(file=shared_path))
    meta = json.loads(content["model_json"])
    content["model_json"] = json.dumps({**meta, "sklearn_version": "0.1"})
    path = tmp_path / "old.skops"
    sio.dump(content, path)
    with pytest.warns(ModelVersionWarning, match="trained with scikit-learn 0.1"):
        load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(shared_path)


# --- export errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("out", "kwargs", "expected"), [
    ("{tmp}/model.joblib", {}, "{tmp}/model.joblib: a shared model file must end in .skops"),
    ("{tmp}/no/m.skops", {}, "{tmp}/no/m.skops: folder {tmp}/no does not exist"),
    ("{tmp}", {}, "{tmp}: a shared model file must end in .skops"),
    ("{tmp}/m.skops", {"format": "onnx"}, "--format must be one of skops, got 'onnx'"),
])
def test_export_errors(trained_model_dir, tmp_path, out, kwargs, expected):
    with pytest.raises(ModelError) as info:
        export_model(trained_model_dir, out.format(tmp=tmp_path), **kwargs)
    assert str(info.value) == expected.format(tmp=tmp_path)


def test_export_needs_a_model_directory(tmp_path, shared_path):
    with pytest.raises(ModelError, match="no model at .*, or run `policy-themes train`"):
        export_model(tmp_path / "nope", tmp_path / "m.skops")
    with pytest.raises(ModelError, match=r"already a shared model; export a model directory"):
        export_model(shared_path, tmp_path / "m.skops")


def test_export_refuses_a_pipeline_it_could_not_load_again(trained_model_dir, tmp_path,
                                                           monkeypatch):
    marker = tmp_path / "code-ran"
    meta = json.loads((trained_model_dir / META_FILE).read_text(encoding="utf-8"))
    monkeypatch.setattr("policy_themes.model.store.load_pipeline",
                        lambda model_dir: (CreatesMarker(marker), meta))
    out = tmp_path / "m.skops"
    out.write_bytes(b"old")
    with pytest.raises(ModelError, match=f"allow-list \\({MARKER_TYPE}\\), so the .skops file "
                                         "could not be loaded; nothing was written"):
        export_model(trained_model_dir, out)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skops"]
    assert not marker.exists()


def test_a_failed_write_leaves_nothing_behind(trained_model_dir, tmp_path, monkeypatch):
    def broken_dump(obj, file, **kwargs):
        Path(file).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sio, "dump", broken_dump)
    with pytest.raises(ModelError, match=r"m\.skops: cannot write it \(No space left on device\)"):
        export_model(trained_model_dir, tmp_path / "m.skops")
    assert list(tmp_path.iterdir()) == []


# --- skops is optional -----------------------------------------------------------------------


def test_without_skops_export_and_load_say_what_to_install(trained_model_dir, shared_path,
                                                           tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    expected = 'sharing models needs skops: pip install "policy-themes[share]"'
    with pytest.raises(ModelError) as info:
        export_model(trained_model_dir, tmp_path / "m.skops")
    assert str(info.value) == expected
    with pytest.raises(ModelError) as info:
        load_model(shared_path)
    assert str(info.value) == expected
    # a joblib model directory needs no skops
    assert load_model(trained_model_dir).predict(TEXTS)["primary"][0] == "energy_diplomacy"


def test_importing_the_package_does_not_import_skops():
    code = ("import sys, policy_themes.cli, policy_themes.workflows.prediction, "
            "policy_themes.model.sharing; "
            "print('skops' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_a_streaming_model_exports_and_loads(train_small_path, tmp_path):
    from policy_themes.workflows.streaming_training import train_streaming

    model_dir = tmp_path / "sgd"
    train_streaming([train_small_path], model_dir=model_dir, epochs=2, chunksize=30,
                    holdout=0.2, n_features=2**12)
    out = export_model(model_dir, tmp_path / "sgd.skops")
    foreign = {t for t in schema_types(out) if not t.startswith("builtins.")}
    assert {"policy_themes.model.streaming.StreamingThemeClassifier",
            "policy_themes.features.blocks.HashedNgrams"} <= foreign
    assert foreign <= ALLOWED_TYPES
    texts = pd.read_csv(train_small_path)["text"].tolist() + TEXTS
    pd.testing.assert_frame_equal(load_model(out).predict(texts),
                                  load_model(model_dir).predict(texts))
