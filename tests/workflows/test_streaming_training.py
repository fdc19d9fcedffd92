"""The out-of-core trainer: hashed features + minibatch Adagrad, saved as a normal model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policy_themes.errors import ConfigError, DataError
from policy_themes.model.streaming import StreamingThemeClassifier
from policy_themes.model.theme_model import load_model
from policy_themes.workflows.evaluate import evaluate
from policy_themes.workflows.streaming_training import train_streaming


@pytest.fixture(scope="module")
def streaming_model(tmp_path_factory, train_small_path):
    model_dir = tmp_path_factory.mktemp("streaming") / "sgd"
    result = train_streaming([train_small_path], model_dir=model_dir, epochs=3, chunksize=16,
                             holdout=0.3, n_features=2**12)
    return model_dir, result


def test_saves_a_model_that_predicts_and_evaluates(streaming_model, train_small_path):
    model_dir, result = streaming_model
    assert 0 < result.n_holdout < 88 and result.n_sentences + result.n_holdout == 88
    model = load_model(model_dir)
    assert model.meta["trainer"] == "streaming"
    assert model.meta["training_data"]["sentences"] == result.n_sentences
    assert set(model.thresholds) == set(model.classes) - {"none"}
    frame = model.predict(["The two governments signed an agreement on the supply of natural "
                           "gas through the new pipeline."])
    assert frame["primary"][0] == "energy_diplomacy"
    report = evaluate(model, train_small_path, n_boot=0)
    assert report.metrics["accuracy"] > 0.8


def test_the_classifier_behaves_like_theme_classifier(streaming_model):
    model = load_model(streaming_model[0], trust_pickle=True)  # its pipeline: model.joblib
    clf = model.pipeline.named_steps["clf"]
    features = model.pipeline[:-1].transform(["Peace talks resumed.", "Gas flows again."])
    proba = clf.predict_proba(features)
    assert proba.shape == (2, len(clf.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.membership_proba(features).shape == (2, len(clf.themes_))
    primary, sets, _, _ = clf.predict_themes(features)
    assert list(clf.predict(features)) == primary
    assert all(s[0] == p for s, p in zip(sets, primary))


def test_the_model_does_not_depend_on_the_number_of_jobs(train_small_path):
    kwargs = dict(epochs=2, chunksize=10, holdout=0.2, n_features=2**10)
    one = train_streaming([train_small_path], jobs=1, **kwargs)
    two = train_streaming([train_small_path], jobs=2, **kwargs)
    assert one.fingerprint == two.fingerprint
    np.testing.assert_array_equal(one.pipeline.named_steps["clf"].state_,
                                  two.pipeline.named_steps["clf"].state_)
    assert one.thresholds == two.thresholds


def test_weak_labels_of_documents(tmp_path, train_small_path):
    frame = pd.read_csv(train_small_path)
    docs = frame.groupby("doc_id", sort=False)["text"].apply(" ".join).reset_index()
    path = tmp_path / "docs.csv.gz"
    docs.to_csv(path, index=False)
    result = train_streaming([path], weak=True, documents=True, holdout=0.0, chunksize=300,
                             n_features=2**10)
    assert result.n_holdout == 0 and result.holdout_metrics is None
    assert result.weak and result.n_sentences >= 80
    assert set(result.thresholds.values()) == {0.5}


def test_unlabeled_data_without_weak_is_refused(tmp_path):
    path = tmp_path / "plain.csv"
    pd.DataFrame({"text": ["One sentence.", "Another one."]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="no 'theme' column.*--weak"):
        train_streaming([path])


def test_settings_are_checked(train_small_path):
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        train_streaming([train_small_path], epochs=0)
    with pytest.raises(ConfigError, match="'clf__C' is not a parameter"):
        train_streaming([train_small_path], params={"clf__C": 1.0})
    with pytest.raises(ConfigError, match="'batch_size' parameter"):
        train_streaming([train_small_path], params={"clf__batch_size": 0})
    with pytest.raises(ConfigError, match="'learning_rate' parameter"):
        train_streaming([train_small_path], params={"clf__learning_rate": "fast"})


def test_partial_fit_needs_the_labels():
    with pytest.raises(ValueError, match="needs 'labels'"):
        StreamingThemeClassifier().partial_fit(np.eye(2), ["a", "b"])


def test_weak_features_reuse_the_labels_rule_scores(train_small_path):
    import pickle

    from policy_themes.model.classifier import make_frame
    from policy_themes.model.streaming import build_streaming_pipeline
    from policy_themes.rules.taxonomy import load_taxonomy
    from policy_themes.workflows.streaming_training import _Featurize

    taxonomy = load_taxonomy()
    features = build_streaming_pipeline(taxonomy, n_features=2**10).named_steps["features"]
    features.fit(make_frame(["fit"]))
    task = pickle.loads(pickle.dumps(_Featurize(features, taxonomy, True, None, 0.0,
                                                taxonomy.ids, True)))
    frame = pd.read_csv(train_small_path)
    shared = task(frame).X
    separate = task.features.transform(make_frame(frame["text"].tolist())).tocsr()
    assert shared.dtype == np.float32 and shared.nnz > 0
    assert (shared != separate.astype(np.float32)).nnz == 0
    rules = task.features.named_transformers_["rules"]
    rules.__dict__["_matcher"] = None  # the rules' own matcher must not be used
    rules._rule_matcher = None
    assert (task(frame).X != shared).nnz == 0


def test_labels_are_encoded_for_the_classifier():
    from policy_themes.model.streaming import encode_themes

    classes = ["a", "b", "c", "none"]
    primary, targets = encode_themes([["b", "a"], ["none"], ["a"], ["c", "b", "a"]], classes)
    assert primary.tolist() == [1, 3, 0, 2]
    assert targets.tolist() == [[1, 1, 0], [0, 0, 0], [1, 0, 0], [1, 1, 1]]
    assert encode_themes([["a"]], ["a", "none"], multilabel=False)[1] is None
    with pytest.raises(ValueError, match="not in 'labels'"):
        encode_themes([["c"]], ["a", "none"])


def _sgd_heads_of_an_earlier_build(X, y, classes):
    """A classifier as earlier builds trained it: one SGDClassifier per head."""
    from sklearn.linear_model import SGDClassifier

    clf = StreamingThemeClassifier(labels=classes)
    clf.classes_ = np.array(classes, dtype=object)
    clf.themes_ = np.array([c for c in classes if c != "none"], dtype=object)
    clf.primary_ = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    clf.membership_ = [SGDClassifier(loss="log_loss", random_state=0).fit(X, np.equal(y, t))
                       for t in clf.themes_]
    clf.thresholds = {}
    return clf


def test_a_model_of_sgd_heads_from_an_earlier_build_still_predicts():
    from policy_themes.model.conversion import _compile_heads

    rng = np.random.default_rng(0)
    X = rng.random((60, 5))
    y = np.array(["b", "a", "none"] * 20, dtype=object)
    clf = _sgd_heads_of_an_earlier_build(X, y, ["a", "b", "none"])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba[:, [0, 1, 2]], clf.primary_.predict_proba(X))
    np.testing.assert_array_equal(clf.membership_proba(X)[:, 1],
                                  clf.membership_[1].predict_proba(X)[:, 1])
    assert _compile_heads(clf)[0]["primary_kind"] == "ovr"
    with pytest.raises(ValueError, match="earlier build"):
        clf.partial_fit(X, y)
    # pickled before learning_rate and batch_size existed, it still has every parameter
    import pickle

    del clf.learning_rate, clf.batch_size
    clf.random_state = 0
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.get_params()["batch_size"] == 512
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


def test_minibatch_training_fits_a_separable_problem():
    rng = np.random.default_rng(1)
    classes = ["a", "b", "none"]
    y = rng.choice(classes, size=600)
    X = np.zeros((600, 40))
    X[np.arange(600), [classes.index(t) * 10 + rng.integers(10) for t in y]] = 1.0
    X[:, 30:] = rng.random((600, 10)) < 0.2  # noise features
    themes = [[t, "b"] if t == "a" and i % 2 else [t] for i, t in enumerate(y)]
    clf = StreamingThemeClassifier(labels=classes, batch_size=32).fit(X, themes, epochs=3)
    assert clf.state_.shape == (40, 2 * (3 + 2)) and clf.state_.dtype == np.float32
    assert (clf.predict(X) == y).mean() > 0.98
    membership = clf.membership_proba(X)
    assert membership.shape == (600, 2)
    assert membership[y == "a", 0].min() > 0.5 and membership[y == "none", 0].max() < 0.5
    # "b" is a second theme of half the "a" sentences: about 0.5, unlike the other "a" features
    assert 0.3 < membership[y == "a", 1].mean() < 0.7


def test_partial_fit_matches_one_step_by_hand():
    """One Adagrad step from zero: every touched weight moves by the learning rate against
    the sign of its gradient; untouched features keep zero weights."""
    X = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]])
    clf = StreamingThemeClassifier(labels=["a", "none"], alpha=0.0, learning_rate=0.1,
                                   batch_size=2)
    clf.partial_fit(X, [["a"], ["none"]])
    scores = np.full((2, 2), 0.5)  # softmax of zero scores over two classes
    errors = np.column_stack([scores - np.eye(2), np.full(2, 0.5) - [1.0, 0.0]]) / 2
    gradient = X.T @ errors
    expected = np.where(gradient != 0, -0.1 * np.sign(gradient), 0.0)
    np.testing.assert_allclose(clf.state_[:, :3], expected, atol=1e-6)
    np.testing.assert_allclose(clf.state_[:, 3:], gradient ** 2, rtol=1e-6)
    assert not clf.state_[1].any()
    np.testing.assert_allclose(clf.bias_[0], -0.1 * np.sign(errors.sum(axis=0)), atol=1e-6)


def test_the_training_process_leaves_the_hashing_to_the_workers(train_small_path, tmp_path):
    # the compiled n-gram loops cost a process about 110 MB: with workers, only they load them
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from policy_themes.workflows.streaming_training import train_streaming\n"
        f"train_streaming([{str(train_small_path)!r}], model_dir={str(tmp_path / 'm')!r}, "
        "chunksize=30, jobs=2, n_features=2**12)\n"
        "print('policy_themes.kernels' in sys.modules, 'numba' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split()[-2:] == ["False", "False"]
    assert (tmp_path / "m" / "model.npz").exists()
