"""The array model (model.npz): same predictions as the pipeline, no scikit-learn, no pickles."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from policy_themes.errors import ModelError
from policy_themes.features.context import neighbour_context
from policy_themes.model.arrays import ARRAYS_FILE, ArrayModel, _aligned_rows
from policy_themes.model.conversion import pipeline_arrays
from policy_themes.model.store import load_pipeline
from policy_themes.model.theme_model import ThemeModel, load_model
from policy_themes.workflows.training import train

FULL_CONFIG = """\
seed: 0
features: {word: true, char: true, rules: true, context_words: true, context_rules: true}
params:
  features__char__ngram_range: [2, 4]
  features__char__min_df: 1
cv: {folds: 0}
context: {window: 1}
"""


@pytest.fixture(scope="module")
def full_model_dir(tmp_path_factory, train_small_path):
    """Every feature block: word, char, rules and both context blocks."""
    folder = tmp_path_factory.mktemp("arrays")
    config = folder / "train.yaml"
    config.write_text(FULL_CONFIG, encoding="utf-8")
    model_dir = folder / "full"
    train([train_small_path], config=config, model_dir=model_dir)
    return model_dir


@pytest.fixture(scope="module")
def sentences(train_small_path):
    frame = pd.read_csv(train_small_path)
    texts = frame["text"].tolist() + ["", "Élysée — “gas”…", "Visa\nrules 😀 changed."]
    docs = frame["doc_id"].astype(str).tolist() + ["x", "x", "y"]
    return texts, neighbour_context(texts, docs, 1)


@pytest.mark.parametrize("with_context", [False, True])
def test_compiled_predictions_equal_the_pipeline(full_model_dir, sentences, with_context):
    texts, context = sentences
    context = context if with_context else None
    ours_model = load_model(full_model_dir)
    pipeline, meta = load_pipeline(full_model_dir)
    reference = ThemeModel(pipeline, meta, full_model_dir)
    assert ours_model.array_model is not None and reference.array_model is None
    ours = ours_model.predict_arrays(texts, context)
    theirs = reference.predict_arrays(texts, context)
    assert ours[0] == theirs[0] and ours[1] == theirs[1]
    np.testing.assert_array_equal(ours[2], theirs[2])
    np.testing.assert_array_equal(ours[3], theirs[3])
    assert ours_model.classes == reference.classes
    assert ours_model.thresholds == reference.thresholds
    assert ours_model.taxonomy() == reference.taxonomy()
    assert ours_model.taxonomy().fingerprint == reference.taxonomy().fingerprint


def test_context_features_equal_the_pipeline_features(full_model_dir, sentences):
    """Context word features are summed over the context's lines: the same as hashing the
    joined context, for lines that are sentences of the batch, of another slice of it, or none,
    over batches of several slices."""
    from policy_themes.model.classifier import make_frame

    texts, _ = sentences
    many = [f"{text} ({i % 11})" if i % 3 else text for i, text in enumerate(texts * 40)]
    context = neighbour_context(many, [f"d{i // 7}" for i in range(len(many))], 2)
    context[5] = "A line that is no sentence.\n\n" + many[3] + "\n" + many[3]
    context[6] = " \n"
    context[-1] = many[0]  # a sentence of the first slice of the batch
    ours_model = load_model(full_model_dir).array_model
    pipeline, _ = load_pipeline(full_model_dir)
    ours = ours_model.features(many, context)
    theirs = pipeline[:-1].transform(make_frame(many, context)).tocsr()
    assert ours.shape == theirs.shape and len(many) > 3000
    assert_same_matrix(ours, theirs)


def assert_same_matrix(ours, theirs):
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


@pytest.mark.parametrize("aligned", [True, False])
def test_neighbour_rows_give_the_features_of_the_joined_contexts(full_model_dir, sentences,
                                                                 aligned):
    """Contexts given as neighbour rows (as predict builds them) read each sentence's own
    features; texts that are not the rows' sentences fall back to hashing the neighbours."""
    from policy_themes.features.context import NeighbourContext, neighbour_rows
    from policy_themes.model.classifier import make_frame

    texts, _ = sentences
    many = [f"{text} ({i % 13})" if i % 2 else text for i, text in enumerate(texts * 40)]
    context = NeighbourContext(many, *neighbour_rows([i // 9 for i in range(len(many))], 2))
    given = many if aligned else [f"{text} and gas" for text in many]
    ours_model = load_model(full_model_dir).array_model
    pipeline, _ = load_pipeline(full_model_dir)
    theirs = pipeline[:-1].transform(make_frame(given, list(context))).tocsr()
    assert_same_matrix(ours_model.features(given, context), theirs)
    assert_same_matrix(ours_model.features(given[100:2500], context[100:2500]), theirs[100:2500])


@pytest.mark.parametrize(("n_columns", "dtype", "width"),
                         [(31, np.float64, 32), (8, np.float64, 8), (17, np.float32, 32)])
def test_weight_rows_fill_whole_cache_lines(n_columns, dtype, width):
    rows = _aligned_rows(5, n_columns, dtype)
    assert rows.shape == (5, width) and rows.dtype == dtype
    assert rows.ctypes.data % 64 == 0 and rows.flags.c_contiguous
    assert not rows.any()


def test_contexts_must_match_the_texts(full_model_dir):
    model = load_model(full_model_dir)
    with pytest.raises(ValueError, match="2 contexts for 3 texts"):
        model.predict_arrays(["Gas.", "Oil.", "Trade."], ["", ""])


def test_the_pipeline_is_loaded_only_when_needed(full_model_dir):
    model = load_model(full_model_dir, trust_pickle=True)
    model.predict(["Gas pipeline talks."])
    assert model._pipeline is None
    explained = model.explain(["Gas pipeline talks."])
    assert model._pipeline is not None and explained[0]["primary"]


def test_without_trust_the_pipeline_is_never_unpickled(full_model_dir):
    model = load_model(full_model_dir)
    with pytest.raises(ModelError, match=r"full: this needs the model's scikit-learn pipeline, "
                                         r"model\.joblib, a pickle"):
        model.explain(["Gas pipeline talks."])
    assert model._pipeline is None


def test_model_npz_holds_no_pickles(full_model_dir):
    with np.load(full_model_dir / ARRAYS_FILE, allow_pickle=False) as data:
        kinds = {name: data[name].dtype.kind for name in data.files}
    assert "O" not in kinds.values()
    assert kinds["spec"] == "U"
    spec = json.loads(str(np.load(full_model_dir / ARRAYS_FILE)["spec"]))
    assert [b["name"] for b in spec["blocks"]] == ["word", "char", "rules", "context_words",
                                                   "context_rules"]


def test_a_tampered_model_npz_is_refused(full_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(full_model_dir, copy)
    data = bytearray((copy / ARRAYS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / ARRAYS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="model.npz: missing, or its SHA-256 does not match"):
        load_model(copy)
    (copy / ARRAYS_FILE).unlink()
    with pytest.raises(ModelError, match="model.npz: missing"):
        load_model(copy)


def _in_a_fresh_process(model_dir, then: str) -> list[str]:
    """What ``then`` prints, run in a new Python after ``m = load_model(model_dir)``."""
    code = ("import sys; from policy_themes import load_model; "
            f"m = load_model({str(model_dir)!r}); {then}")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split()


def test_predicting_does_not_import_scikit_learn(full_model_dir):
    out = _in_a_fresh_process(full_model_dir, "print(m.predict(['The gas pipeline opened.'])"
                                              "['primary'][0], 'sklearn' in sys.modules)")
    assert out[1] == "False"
    assert out[0] == load_model(full_model_dir).predict(["The gas pipeline opened."])[
        "primary"][0]


def test_loading_a_model_does_not_import_scipy(full_model_dir):
    """The process that reads the input and writes the output of a parallel run loads the
    model but never predicts: it has no use for SciPy (0.14 s to import)."""
    out = _in_a_fresh_process(full_model_dir,
                              "print(m.array_model is not None, 'scipy' in sys.modules)")
    assert out == ["True", "False"]


def test_predicting_makes_no_sparse_matrix(full_model_dir):
    """A worker of ``predict`` scores the rule blocks without SciPy's sparse matrices (their
    import is 0.08 s of the workers' start, and one a batch was a cost of its own)."""
    out = _in_a_fresh_process(full_model_dir,
                              "m.predict(['The gas pipeline opened.', 'Visas for students.'] * 3);"
                              " print(m.array_model is not None, 'scipy.sparse' in sys.modules)")
    assert out == ["True", "False"]


def test_compiled_model_survives_pickling(full_model_dir, sentences):
    import pickle

    texts, context = sentences
    model = load_model(full_model_dir)
    before = model.predict_arrays(texts, context)
    again = pickle.loads(pickle.dumps(model))
    after = again.predict_arrays(texts, context)
    np.testing.assert_array_equal(before[2], after[2])
    assert isinstance(again.array_model, ArrayModel) and again._pipeline is None


def test_only_default_shaped_pipelines_compile(full_model_dir):
    from sklearn.pipeline import Pipeline

    pipeline, _ = load_pipeline(full_model_dir)
    assert pipeline_arrays(pipeline) is not None
    assert pipeline_arrays(Pipeline([("clf", pipeline.named_steps["clf"])])) is None


def test_a_streaming_model_compiles_to_the_same_predictions(train_small_path, tmp_path,
                                                           sentences):
    from policy_themes.workflows.streaming_training import train_streaming

    texts, _ = sentences
    model_dir = tmp_path / "sgd"
    train_streaming([train_small_path], model_dir=model_dir, epochs=2, chunksize=30,
                    holdout=0.2, n_features=2**12)
    ours_model = load_model(model_dir)
    pipeline, meta = load_pipeline(model_dir)
    reference = ThemeModel(pipeline, meta, model_dir)
    assert ours_model.array_model is not None
    assert json.loads(str(np.load(model_dir / ARRAYS_FILE)["spec"]))["primary_kind"] == "logistic"
    ours, theirs = ours_model.predict_arrays(texts), reference.predict_arrays(texts)
    assert ours[0] == theirs[0] and ours[1] == theirs[1]
    np.testing.assert_array_equal(ours[2], theirs[2])
    np.testing.assert_array_equal(ours[3], theirs[3])


def test_a_portable_model_predicts_without_its_directory(full_model_dir, tmp_path, sentences):
    import pickle
    import shutil

    texts, context = sentences
    copy = tmp_path / "m"
    shutil.copytree(full_model_dir, copy)
    model = load_model(copy)
    expected = model.predict_arrays(texts, context)
    payload = pickle.dumps(model.portable())
    shutil.rmtree(copy)  # a worker on another machine does not see the directory
    moved = pickle.loads(payload)
    np.testing.assert_array_equal(moved.predict_arrays(texts, context)[2], expected[2])
    with pytest.raises(ModelError, match="model.npz: cannot be read"):
        pickle.loads(pickle.dumps(model)).predict_arrays(texts)


def test_a_model_shared_before_forking_is_adopted_when_unpickled(full_model_dir, sentences,
                                                                  monkeypatch):
    import pickle

    from policy_themes.model import arrays as arrays_module

    monkeypatch.setattr(arrays_module, "_PRELOADED", {})
    texts, context = sentences
    model = load_model(full_model_dir)
    target, key = model.array_model.preload_in_forks()
    assert target == "policy_themes.model.arrays:preload_model"
    arrays_module.preload_model(key)  # what the fork server does
    shared = next(iter(arrays_module._PRELOADED.values()))
    received = pickle.loads(pickle.dumps(model))  # what a forked worker does
    assert received.array_model.__dict__["_arrays"] is shared.arrays
    assert received.array_model._output_weights()[0] is shared._output_weights()[0]
    np.testing.assert_array_equal(received.predict_arrays(texts, context)[2],
                                  load_model(full_model_dir).predict_arrays(texts, context)[2])


def test_a_model_of_another_hash_does_not_adopt_the_shared_one(full_model_dir, monkeypatch):
    import pickle

    from policy_themes.model import arrays as arrays_module

    monkeypatch.setattr(arrays_module, "_PRELOADED", {})
    model = load_model(full_model_dir)
    arrays_module.preload_model(model.array_model.preload_in_forks()[1])
    model.array_model.sha256 = "0" * 64  # as if the file had been replaced since
    received = pickle.loads(pickle.dumps(model))
    assert received.array_model.__dict__["_arrays"] is None  # it reads (and checks) the file
    received.array_model._checked_pid = None  # as in a worker process
    with pytest.raises(ModelError, match="changed since the model was loaded"):
        _ = received.array_model.arrays


def test_a_changed_file_is_not_shared(full_model_dir, tmp_path, monkeypatch):
    import shutil

    from policy_themes.model import arrays as arrays_module

    monkeypatch.setattr(arrays_module, "_PRELOADED", {})
    copy = tmp_path / "m"
    shutil.copytree(full_model_dir, copy)
    key = load_model(copy).array_model.preload_in_forks()[1]
    data = bytearray((copy / ARRAYS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / ARRAYS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="changed since the model was loaded"):
        arrays_module.preload_model(key)
    assert arrays_module._PRELOADED == {}


def test_an_embedded_model_has_nothing_to_share(full_model_dir):
    assert load_model(full_model_dir).array_model.embedded().preload_in_forks() is None
