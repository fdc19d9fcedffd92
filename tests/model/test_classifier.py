import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from policy_themes.config import load_train_config
from policy_themes.errors import ConfigError
from policy_themes.model.classifier import RuleVotes, ThemeClassifier, build_pipeline, decide_themes
from policy_themes.model.decisions import decide_theme_cells
from policy_themes.rules.taxonomy import load_taxonomy

LABELS = ["a", "b", "c", "none"]
# two informative features: the first marks "a", the second "b"; neither marks "none"
X = np.array([[3.0, 0.0], [2.5, 0.2], [3.2, 0.1], [2.8, 0.0],
              [0.0, 3.0], [0.3, 2.6], [0.1, 3.1], [0.0, 2.9],
              [0.0, 0.0], [0.2, 0.1], [0.1, 0.2], [0.0, 0.1]])
Y = [["a"], ["a", "b"], ["a"], ["a"],
     ["b"], ["b", "a"], ["b"], ["b"],
     ["none"], ["none"], ["none"], ["none"]]


@pytest.fixture
def mini(data_dir):
    return load_taxonomy(data_dir / "mini_taxonomy.yaml")


@pytest.fixture(scope="module")
def fitted():
    return ThemeClassifier(labels=LABELS).fit(X, Y)


@pytest.fixture(scope="module")
def small_pipeline(train_small_path, train_config_path, taxonomy):
    frame = pd.read_csv(train_small_path)
    pipeline = build_pipeline(load_train_config(train_config_path), taxonomy)
    return pipeline.fit(frame["text"].tolist(), [t.split(";") for t in frame["themes"]])


# --- build_pipeline ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "blocks"),
    [
        ({"word": True, "char": True, "rules": True}, ["word", "char", "rules"]),
        ({"word": True, "char": False, "rules": True}, ["word", "rules"]),
        ({"word": False, "char": True, "rules": False}, ["char"]),
        ({"word": False, "char": False, "rules": True}, ["rules"]),
    ],
)
def test_build_pipeline_respects_feature_switches(taxonomy, features, blocks):
    config = replace(load_train_config(), features=features, params={})
    pipeline = build_pipeline(config, taxonomy)
    assert [name for name, _ in pipeline.steps] == ["input", "features", "clf"]
    columns = pipeline.named_steps["features"]
    assert [name for name, _, _ in columns.transformers] == blocks


def test_build_pipeline_applies_params_labels_and_seed(train_config_path, taxonomy):
    config = load_train_config(train_config_path).with_overrides(
        seed=11, params={"clf__C": 0.25, "features__word__ngram_range": [1, 3]})
    params = build_pipeline(config, taxonomy).get_params()
    assert params["clf__C"] == 0.25
    assert params["features__word__ngram_range"] == (1, 3)
    assert params["clf__random_state"] == 11
    assert list(params["clf__labels"]) == taxonomy.ids


def test_pipeline_features_have_prefixed_names(small_pipeline, taxonomy):
    names = list(small_pipeline.named_steps["features"].get_feature_names_out())
    assert "word__pipeline" in names
    assert names[-len(taxonomy.theme_ids):] == [f"rules__rule:{t}" for t in taxonomy.theme_ids]


# --- RuleVotes -----------------------------------------------------------------------------


def test_rule_votes_are_log_scaled_weighted_votes(mini):
    votes = RuleVotes(mini).fit(["unused"])
    matrix = votes.transform(["Oil and gas trade.", "Nothing here.", "Joint venture, cooperation."])
    assert sp.issparse(matrix) and matrix.shape == (3, 3)
    # energy: oil + gas (weight 1 each); trade: one match of weight 2; cooperation: two matches
    np.testing.assert_allclose(matrix.toarray(), np.log1p([[2, 2, 0], [0, 0, 0], [0, 0, 2]]))


def test_rule_votes_feature_names(mini, taxonomy):
    assert list(RuleVotes(mini).fit([]).get_feature_names_out()) == [
        "rule:energy", "rule:trade", "rule:cooperation"]
    names = RuleVotes(taxonomy).fit([]).get_feature_names_out()
    assert list(names) == [f"rule:{t}" for t in taxonomy.theme_ids]
    assert "rule:none" not in names


def test_rule_votes_need_fit_and_a_taxonomy(mini):
    with pytest.raises(NotFittedError):
        RuleVotes(mini).transform(["Oil."])
    with pytest.raises(ConfigError, match="^RuleVotes needs a taxonomy$"):
        RuleVotes().fit(["Oil."])


def test_rule_votes_pickle_without_compiled_rules(mini):
    votes = RuleVotes(mini).fit([])
    before = votes.transform(["Gas and oil."]).toarray()
    assert "_matcher" in votes.__dict__
    clone = pickle.loads(pickle.dumps(votes))
    assert "_matcher" not in clone.__dict__
    np.testing.assert_array_equal(clone.transform(["Gas and oil."]).toarray(), before)


# --- ThemeClassifier -----------------------------------------------------------------------


def test_classifier_fits_theme_lists(fitted):
    assert list(fitted.classes_) == LABELS
    assert list(fitted.themes_) == ["a", "b", "c"]
    assert list(fitted.predict(X)) == [y[0] for y in Y]


def test_predict_proba_covers_every_label_and_sums_to_one(fitted):
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), len(LABELS))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba[:, LABELS.index("c")] == 0)  # never a primary theme in training
    assert np.all(proba[:, [0, 1, 3]] > 0)


def test_membership_probabilities(fitted):
    membership = fitted.membership_proba(X)
    assert membership.shape == (len(X), 3)
    assert np.all(membership[:, 2] == 0)  # "c" never occurs: a constant head
    # "b" is a secondary theme of row 1 and the primary of rows 4-7; absent from "none" rows
    assert membership[4:8, 1].min() > membership[8:, 1].max()
    assert fitted.membership_[2] == 0.0


def test_classifier_fits_single_theme_ids(taxonomy):
    y = [themes[0] for themes in Y]
    clf = ThemeClassifier(labels=LABELS).fit(X, y)
    assert list(clf.predict(X)) == y
    assert clf.membership_proba(X).shape == (len(X), 3)


def test_classifier_without_labels_uses_the_classes_seen():
    clf = ThemeClassifier().fit(X, [themes[0] for themes in Y])
    assert list(clf.classes_) == ["a", "b", "none"]
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


def test_without_multilabel_membership_is_the_primary_probability():
    clf = ThemeClassifier(labels=LABELS, multilabel=False).fit(X, Y)
    assert clf.membership_ == []
    np.testing.assert_allclose(clf.membership_proba(X), clf.predict_proba(X)[:, :3])


def test_classifier_refuses_bad_targets():
    with pytest.raises(ValueError, match=r"^labels not in 'labels': \['z'\]$"):
        ThemeClassifier(labels=LABELS).fit(X, [["z"]] + Y[1:])
    with pytest.raises(ValueError, match="at least two different primary themes"):
        ThemeClassifier(labels=LABELS).fit(X, [["a"]] * len(X))
    with pytest.raises(ValueError, match="^empty theme list in y$"):
        ThemeClassifier(labels=LABELS).fit(X, [[]] + Y[1:])


def test_unfitted_classifier_refuses_to_predict():
    with pytest.raises(NotFittedError):
        ThemeClassifier(labels=LABELS).predict_proba(X)


def test_threshold_vector_defaults_to_one_half(fitted):
    assert list(fitted.threshold_vector()) == [0.5, 0.5, 0.5]
    clf = ThemeClassifier(labels=LABELS, thresholds={"b": 0.2}).fit(X, Y)
    assert list(clf.threshold_vector()) == [0.5, 0.2, 0.5]


def test_predict_themes_agrees_with_decide_themes(fitted):
    primary, sets, proba, membership = fitted.predict_themes(X)
    expected = decide_themes(proba, membership, LABELS, ["a", "b", "c"],
                             fitted.threshold_vector())
    assert (primary, sets) == expected
    assert primary == list(fitted.predict(X))


# --- decide_themes -------------------------------------------------------------------------


def test_decide_themes_on_hand_made_probabilities():
    proba = np.array([
        [0.60, 0.20, 0.10, 0.10],  # a
        [0.20, 0.10, 0.10, 0.60],  # none
        [0.10, 0.50, 0.30, 0.10],  # b
        [0.10, 0.20, 0.40, 0.30],  # c
    ])
    membership = np.array([
        [0.90, 0.60, 0.70],  # c (.7) before b (.6)
        [0.90, 0.90, 0.90],  # ignored: primary is none
        [0.20, 0.10, 0.29],  # primary kept even under its threshold; c just under .3
        [0.50, 0.49, 0.30],  # a exactly at its threshold counts; b just under
    ])
    thresholds = np.array([0.5, 0.5, 0.3])
    primary, sets = decide_themes(proba, membership, LABELS, ["a", "b", "c"], thresholds)
    assert primary == ["a", "none", "b", "c"]
    assert sets == [["a", "c", "b"], ["none"], ["b"], ["c", "a"]]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 30))
def test_theme_cells_are_the_joined_theme_sets(seed, n_rows):
    """decide_theme_cells, the prediction's path, gives the primary themes and the text of
    decide_themes' sets, as Arrow-backed string columns: ties, probabilities at their
    thresholds, primary ``none`` and rows without other themes."""
    random = np.random.default_rng(seed)
    proba = random.choice([0.1, 0.2, 0.3, 0.5], size=(n_rows, 4))
    membership = random.choice([0.2, 0.3, 0.5, 0.6, 0.9], size=(n_rows, 3))
    thresholds = random.choice([0.3, 0.5, 0.6], size=3)
    primary, sets = decide_themes(proba, membership, LABELS, ["a", "b", "c"], thresholds)
    primary_cells, theme_cells = decide_theme_cells(proba, membership, LABELS, ["a", "b", "c"],
                                                    thresholds)
    assert primary_cells.tolist() == primary
    assert theme_cells.tolist() == [";".join(s) for s in sets]
    assert primary_cells.dtype == theme_cells.dtype == pd.Series(["a"]).dtype


def test_decide_themes_on_no_rows():
    primary, sets = decide_themes(np.zeros((0, 4)), np.zeros((0, 3)), LABELS, ["a", "b", "c"],
                                  np.array([0.5, 0.5, 0.5]))
    assert primary == [] and sets == []


def test_pipeline_probabilities_cover_the_whole_taxonomy(small_pipeline, taxonomy):
    clf = small_pipeline.named_steps["clf"]
    features = small_pipeline[:-1].transform(["Gas.", "Visas.", "Hello."])
    proba = clf.predict_proba(features)
    assert list(clf.classes_) == taxonomy.ids
    assert proba.shape == (3, len(taxonomy.ids))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    trained = {"energy_diplomacy", "consular_diaspora", "counter_terrorism", "none"}
    absent = [j for j, theme in enumerate(taxonomy.ids) if theme not in trained]
    assert len(absent) == 12 and np.all(proba[:, absent] == 0)
    assert clf.membership_proba(features).shape == (3, len(taxonomy.theme_ids))


# --- pickling ------------------------------------------------------------------------------


def test_pickle_round_trip_keeps_predictions(small_pipeline):
    texts = ["The gas pipeline will reach Europe next year.",
             "Our consulate helps citizens who lost their passports.",
             "Police arrested members of a drug trafficking network.",
             "The press conference starts at noon."]
    clf = small_pipeline.named_steps["clf"]
    features = small_pipeline[:-1].transform(texts)
    before = clf.predict_themes(features)
    clone = pickle.loads(pickle.dumps(small_pipeline))
    after = clone.named_steps["clf"].predict_themes(
        clone[:-1].transform(texts))
    assert after[0] == before[0] == ["energy_diplomacy", "consular_diaspora",
                                      "counter_terrorism", "none"]
    assert after[1] == before[1]
    np.testing.assert_array_equal(after[2], before[2])
    np.testing.assert_array_equal(after[3], before[3])
