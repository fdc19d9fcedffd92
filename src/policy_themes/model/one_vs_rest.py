"""The primary head's default form: one binary logistic regression per class, fitted by LIBLINEAR.

LIBLINEAR's dual coordinate-descent solver fits one binary head over sparse n-grams in a fraction
of what a multinomial logistic regression takes (``newton-cg`` or ``lbfgs``) on the same features,
and grouped cross-validation on the real sentences gives the same accuracy either way
(``benchmarks/results/training_speed.md``). The class probabilities are the heads'
probabilities normalised to sum to 1, as scikit-learn's one-vs-rest classifiers give them.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted

from policy_themes.model.decisions import one_vs_rest_proba

__all__ = ["OneVsRestLogistic", "fit_binary_head", "liblinear_tol"]


def liblinear_tol(tol: float | None, dual: bool) -> float:
    """The stopping tolerance of a LIBLINEAR logistic regression: ``tol``, or when None
    LIBLINEAR's own default (0.1 for its dual solver, 0.01 for its primal one)."""
    if tol is not None:
        return float(tol)
    return 0.1 if dual else 0.01


def fit_binary_head(X, target: np.ndarray, *, C: float, tol: float | None, max_iter: int,
                    random_state: int, sample_weight=None) -> LogisticRegression:
    """One binary logistic regression by LIBLINEAR: its dual solver when ``X`` has more columns
    than rows (always so with n-grams; the same optimum, several times faster:
    ``benchmarks/results/training_speed.md``), at
    :func:`liblinear_tol` ``(tol, dual)``."""
    dual = X.shape[1] > X.shape[0]
    return LogisticRegression(C=C, solver="liblinear", dual=dual, tol=liblinear_tol(tol, dual),
                              max_iter=max_iter, random_state=random_state,
                              ).fit(X, target, sample_weight=sample_weight)


class OneVsRestLogistic(ClassifierMixin, BaseEstimator):
    """One-vs-rest logistic regression with sample weights, by LIBLINEAR.

    Parameters
    ----------
    C : float, default=10.0
        Inverse regularisation strength of every head.
    class_weight : {"balanced"} or None, default="balanced"
        "balanced" weighs each row by ``n_rows / (n_classes * rows_of_its_class)`` (the classes
        as a whole, as a multinomial model weighs them, not each binary problem's two sides).
    tol : float, default=None
        Stopping tolerance; None uses LIBLINEAR's own default (see :func:`liblinear_tol`).
    max_iter : int, default=2000
        Solver iterations per head.
    random_state : int, default=0
        Seed of LIBLINEAR's coordinate order.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features), or (1, n_features) for two classes
    intercept_ : ndarray of shape (n_classes,), or (1,) for two classes
    """

    def __init__(self, C: float = 10.0, class_weight: str | None = "balanced",
                 tol: float | None = None, max_iter: int = 2000, random_state: int = 0):
        self.C = C
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        """Fit one head per class (one head in all for two classes) on ``X`` and labels ``y``,
        rows weighted by ``sample_weight`` (None: all 1) times their class weight."""
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("one-vs-rest logistic regression needs at least two classes")
        weights = np.ones(len(y)) if sample_weight is None else \
            np.asarray(sample_weight, dtype=float)
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, y)
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        heads = [fit_binary_head(X, (y == label).astype(int), C=self.C, tol=self.tol,
                                 max_iter=self.max_iter, random_state=self.random_state,
                                 sample_weight=weights) for label in positives]
        self.coef_ = np.vstack([head.coef_ for head in heads])
        self.intercept_ = np.concatenate([head.intercept_ for head in heads])
        self.n_iter_ = np.concatenate([head.n_iter_ for head in heads])
        return self

    def decision_function(self, X) -> np.ndarray:
        """Each head's score, shape (n, n_classes); shape (n,) for two classes."""
        check_is_fitted(self, "coef_")
        scores = safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class of ``classes_``."""
        return one_vs_rest_proba(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
