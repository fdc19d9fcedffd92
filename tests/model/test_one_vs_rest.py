import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils.class_weight import compute_sample_weight

from policy_themes.model.classifier import ThemeClassifier
from policy_themes.model.decisions import one_vs_rest_proba
from policy_themes.model.one_vs_rest import OneVsRestLogistic, liblinear_tol


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = sp.random(300, 500, density=0.05, format="csr", random_state=1)
    y = np.array(["a", "b", "c", "d"])[rng.integers(0, 4, 300)]
    # make the classes learnable: each class lights up its own columns
    X = X.tolil()
    for i, label in enumerate(y):
        X[i, "abcd".index(label)] = 1.0
    return X.tocsr(), y, rng.uniform(0.5, 3.0, 300)


def test_unweighted_heads_are_scikit_learns_one_vs_rest(data):
    X, y, _ = data
    ours = OneVsRestLogistic(C=10.0, class_weight=None, tol=0.1).fit(X, y)
    reference = OneVsRestClassifier(LogisticRegression(
        C=10.0, solver="liblinear", dual=True, tol=0.1, max_iter=2000, random_state=0)).fit(X, y)
    assert list(ours.classes_) == list(reference.classes_)
    np.testing.assert_allclose(ours.coef_, np.vstack([e.coef_ for e in reference.estimators_]))
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X))
    assert (ours.predict(X) == reference.predict(X)).all()


def test_balanced_weights_are_the_classes_as_a_whole_times_the_rows(data):
    X, y, weights = data
    ours = OneVsRestLogistic(C=1.0, tol=1e-4).fit(X, y, sample_weight=weights)
    combined = weights * compute_sample_weight("balanced", y)
    for k, label in enumerate(ours.classes_):
        head = LogisticRegression(C=1.0, solver="liblinear", dual=True, tol=1e-4,
                                  max_iter=2000, random_state=0)
        head.fit(X, (y == label).astype(int), sample_weight=combined)
        np.testing.assert_allclose(ours.coef_[k], head.coef_[0])
        np.testing.assert_allclose(ours.intercept_[k], head.intercept_[0])


def test_probabilities_sum_to_one_and_follow_the_scores(data):
    X, y, weights = data
    model = OneVsRestLogistic().fit(X, y, sample_weight=weights)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == model.decision_function(X).argmax(axis=1)).all()
    assert (model.predict(X) == y).mean() > 0.9


def test_two_classes_make_one_head(data):
    X, y, _ = data
    two = np.where(y == "a", "a", "other")
    model = OneVsRestLogistic(class_weight=None).fit(X, two)
    assert model.coef_.shape == (1, X.shape[1])
    head = LogisticRegression(C=10.0, solver="liblinear", dual=True, tol=0.1, max_iter=2000,
                              random_state=0).fit(X, (two == "other").astype(int))
    np.testing.assert_allclose(model.predict_proba(X), head.predict_proba(X))


def test_one_class_is_refused(data):
    X, _, _ = data
    with pytest.raises(ValueError, match="two classes"):
        OneVsRestLogistic().fit(X, np.array(["a"] * X.shape[0]))


def test_more_rows_than_columns_uses_the_primal_solver():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = np.array(["x", "y", "z"])[np.argmax(X[:, :3], axis=1)]
    model = OneVsRestLogistic(class_weight=None).fit(X, y)
    reference = OneVsRestClassifier(LogisticRegression(
        C=10.0, solver="liblinear", dual=False, tol=0.01, max_iter=2000, random_state=0)).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X))


def test_liblinear_tol_defaults_are_liblinears():
    assert liblinear_tol(None, dual=True) == 0.1
    assert liblinear_tol(None, dual=False) == 0.01
    assert liblinear_tol(1e-4, dual=True) == 1e-4


def test_one_vs_rest_proba_rows_of_zeros_are_uniform():
    proba = one_vs_rest_proba(np.array([[-1e6, -1e6, -1e6], [0.0, 0.0, 2.0]]))
    np.testing.assert_allclose(proba[0], [1 / 3] * 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[1, 2] > proba[1, 0]


def test_theme_classifier_solvers(data):
    X, y, _ = data
    themes = [[label] for label in y]
    assert type(ThemeClassifier(multilabel=False).fit(X, themes).primary_) is OneVsRestLogistic
    multinomial = ThemeClassifier(solver="newton-cg", multilabel=False).fit(X, themes)
    assert type(multinomial.primary_) is LogisticRegression
    assert multinomial.primary_.tol == 1e-4


def test_theme_classifier_tol_reaches_every_head(data):
    X, y, _ = data
    themes = [[label, "b"] if label != "b" else [label] for label in y]
    clf = ThemeClassifier(labels=["a", "b", "c", "d", "none"], tol=1e-3).fit(X, themes)
    assert clf.primary_.tol == 1e-3
    assert {head.tol for head in clf.membership_ if not isinstance(head, float)} == {1e-3}
