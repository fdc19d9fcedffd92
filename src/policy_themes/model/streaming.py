"""The out-of-core classifier: hashed features and minibatch Adagrad, a chunk at a time.

:class:`StreamingThemeClassifier` has the two heads of
:class:`~policy_themes.model.classifier.ThemeClassifier` (primary theme; membership of each
theme) as the outputs of one linear model, and the same prediction methods, so a model trained
by :func:`~policy_themes.workflows.streaming_training.train_streaming` works with ``predict``,
``evaluate`` and ``info`` like any other. Its features need no vocabulary: word 1-2-grams
hashed into a fixed number of columns beside the taxonomy rules' votes
(:func:`build_streaming_pipeline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from policy_themes.errors import ConfigError
from policy_themes.features.blocks import HashedNgrams
from policy_themes.model.classifier import (
    TEXT,
    InputFrame,
    RuleVotes,
    ThemeDecisions,
    as_theme_lists,
)
from policy_themes.model.decisions import linear_scores, softmax, stacked_membership_proba
from policy_themes.rules.taxonomy import NO_THEME, Taxonomy

__all__ = ["StreamingThemeClassifier", "HashedWords", "build_streaming_pipeline", "encode_themes"]



class StreamingThemeClassifier(ThemeDecisions, ClassifierMixin, BaseEstimator):
    """Primary-theme and theme-membership heads trained incrementally, a minibatch at a time.

    The out-of-core counterpart of :class:`~ThemeClassifier`, with the
    same attributes (``classes_``, ``themes_``, ``thresholds``) and prediction methods
    (``predict_proba``, ``membership_proba``, ``predict``, ``predict_themes``).

    One linear model scores every class (a softmax gives the primary theme) and every theme (a
    logistic function gives its membership); both losses are minimised together by minibatch
    Adagrad. A minibatch's gradient only touches the weights of the features it holds, so an
    update costs in proportion to its non-zeros, not to the width of the hashed feature space.

    Parameters
    ----------
    labels : sequence of str, default=None
        Every class id, ``none`` included, in output order; required by :meth:`partial_fit`
        (a chunk need not hold every class).
    alpha : float, default=1e-6
        L2 penalty, applied to the weights of the features present in each minibatch.
    multilabel : bool, default=True
        Train a membership output per theme; without it membership is read off the primary head.
    thresholds : dict of str to float, default=None
        Membership threshold per theme; missing themes use 0.5.
    learning_rate : float, default=1.0
        Adagrad's step size.
    batch_size : int, default=512
        Rows per update; :meth:`partial_fit` walks through its chunk in input order.

    Attributes
    ----------
    state_ : ndarray of shape (n_features, 2 * n_outputs), float32
        Per feature, the weights of the outputs (classes, then themes when ``multilabel``)
        followed by Adagrad's sums of squared gradients.
    bias_ : ndarray of shape (2, n_outputs), float32
        The intercepts and their sums of squared gradients.

    Notes
    -----
    ``y`` is a sequence of theme lists, the primary theme first (``["none"]`` for no theme), or a
    sequence of single theme ids, as for ``ThemeClassifier``. Models trained by earlier builds
    (one ``SGDClassifier`` per head, in ``primary_`` and ``membership_``) still predict.
    """

    _parameter_constraints: dict = {
        "labels": ["array-like", None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "multilabel": ["boolean"],
        "thresholds": [dict, None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, labels: Sequence[str] | None = None, alpha: float = 1e-6,
                 multilabel: bool = True, thresholds: dict | None = None,
                 learning_rate: float = 1.0, batch_size: int = 512):
        self.labels = labels
        self.alpha = alpha
        self.multilabel = multilabel
        self.thresholds = thresholds
        self.learning_rate = learning_rate
        self.batch_size = batch_size

    def partial_fit(self, X, y):
        """Update the model with one chunk of features ``X`` and theme lists ``y``."""
        theme_lists = as_theme_lists(y)
        if len(theme_lists) != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {len(theme_lists)}")
        primary, targets = encode_themes(theme_lists, self._class_ids(), self.multilabel)
        return self.update(X, primary, targets)

    def update(self, X, primary: np.ndarray, targets: np.ndarray | None):
        """:meth:`partial_fit` with the labels already encoded by :func:`encode_themes`."""
        if "primary_" in self.__dict__:
            raise ValueError("this model was trained by an earlier build of policy-themes; "
                             "train a new one")
        X = sp.csr_matrix(X)
        if not hasattr(self, "state_"):
            self._validate_params()
            self._start(X.shape[1])
        if X.shape[1] != self.state_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features, the model {self.state_.shape[0]}")
        for begin in range(0, X.shape[0], self.batch_size):
            stop = begin + self.batch_size
            _adagrad_step(self.state_, self.bias_, X[begin:stop], primary[begin:stop],
                          None if targets is None else targets[begin:stop],
                          len(self.classes_), self.learning_rate, self.alpha)
        return self

    def _class_ids(self) -> list[str]:
        """The classes in output order: ``classes_`` once fitted, else ``labels``."""
        if hasattr(self, "classes_"):
            return list(self.classes_)
        if self.labels is None:
            raise ValueError("StreamingThemeClassifier.partial_fit needs 'labels' (every "
                             "class id, none included)")
        return list(self.labels)

    def _start(self, n_features: int) -> None:
        self.classes_ = np.array(self._class_ids(), dtype=object)
        self.themes_ = np.array([c for c in self.classes_ if c != NO_THEME], dtype=object)
        n_outputs = len(self.classes_) + (len(self.themes_) if self.multilabel else 0)
        self.state_ = np.zeros((n_features, 2 * n_outputs), dtype=np.float32)
        self.bias_ = np.zeros((2, n_outputs), dtype=np.float32)
        self.n_features_in_ = n_features

    def fit(self, X, y, *, epochs: int = 5):
        """Fit from scratch: ``epochs`` passes of :meth:`partial_fit` over all of ``X``."""
        for name in ("state_", "bias_", "classes_", "themes_"):
            self.__dict__.pop(name, None)
        if self.labels is None:
            self.labels = sorted({t[0] for t in as_theme_lists(y)})
        for _ in range(epochs):
            self.partial_fit(X, y)
        return self

    def heads(self) -> dict[str, np.ndarray]:
        """The fitted weights as the arrays of ``model.npz`` (float32 views of ``state_`` and
        ``bias_``, no copies): ``primary.coef`` (classes × features), ``primary.intercept``,
        ``membership.coef`` (features × themes, empty without ``multilabel``) and
        ``membership.intercept``."""
        check_is_fitted(self, "state_")
        n_classes, n_outputs = len(self.classes_), self.bias_.shape[1]
        weights, bias = self.state_[:, :n_outputs], self.bias_[0]
        return {"primary.coef": weights[:, :n_classes].T, "primary.intercept": bias[:n_classes],
                "membership.coef": weights[:, n_classes:],
                "membership.intercept": bias[n_classes:]}

    def predict_proba(self, X) -> np.ndarray:
        """Probability that each class of ``classes_`` is the primary theme."""
        if "primary_" in self.__dict__:
            return self._legacy_proba(X)
        heads = self.heads()
        return softmax(linear_scores(X, heads["primary.coef"].T, heads["primary.intercept"]))

    def membership_proba(self, X) -> np.ndarray:
        """Probability that each theme of ``themes_`` is among the sentence's themes."""
        if "primary_" in self.__dict__:
            if self.membership_:
                return np.column_stack([h.predict_proba(X)[:, 1] for h in self.membership_])
        elif self.multilabel:
            heads = self.heads()
            return stacked_membership_proba(X, len(self.themes_), list(range(len(self.themes_))),
                                            heads["membership.coef"],
                                            heads["membership.intercept"], [])
        proba = self.predict_proba(X)
        return proba[:, [list(self.classes_).index(t) for t in self.themes_]]

    def __setstate__(self, state):
        # models of earlier builds were pickled before these parameters existed
        state.setdefault("learning_rate", 1.0)
        state.setdefault("batch_size", 512)
        super().__setstate__(state)

    def _legacy_proba(self, X) -> np.ndarray:
        proba = np.zeros((X.shape[0], len(self.classes_)))
        columns = [list(self.classes_).index(c) for c in self.primary_.classes_]
        proba[:, columns] = self.primary_.predict_proba(X)
        return proba


def _adagrad_step(state: np.ndarray, bias: np.ndarray, X: sp.csr_matrix, primary: np.ndarray,
                  targets: np.ndarray | None, n_classes: int, learning_rate: float,
                  alpha: float) -> None:
    """One minibatch update of :class:`StreamingThemeClassifier`'s ``state_`` and ``bias_``,
    in place: only the rows of the features present in ``X`` are read and written."""
    n_outputs = bias.shape[1]
    features, local_columns = np.unique(X.indices, return_inverse=True)
    local = sp.csr_matrix((X.data.astype(np.float32, copy=False), local_columns.reshape(-1),
                           X.indptr),
                          shape=(X.shape[0], len(features)))
    rows = np.take(state, features, axis=0)
    weights, squares = rows[:, :n_outputs], rows[:, n_outputs:]
    errors = _output_errors(local @ weights + bias[0], primary, targets, n_classes)
    errors /= X.shape[0]
    gradient = local.T @ errors
    if alpha:
        gradient += np.float32(alpha) * weights
    _adagrad(weights, squares, gradient, learning_rate)
    state[features] = rows
    _adagrad(bias[0], bias[1], errors.sum(axis=0), learning_rate)


def _output_errors(scores: np.ndarray, primary: np.ndarray, targets: np.ndarray | None,
                   n_classes: int) -> np.ndarray:
    """The loss's gradient with respect to the scores, in place: softmax minus the one-hot
    primary class on the class outputs, logistic minus the target on the theme outputs."""
    from scipy.special import expit

    classes = softmax(scores[:, :n_classes])
    classes[np.arange(len(primary)), primary] -= 1
    if targets is not None:
        themes = scores[:, n_classes:]
        expit(themes, out=themes)
        themes -= targets
    return scores


def _adagrad(weights: np.ndarray, squares: np.ndarray, gradient: np.ndarray,
             learning_rate: float) -> None:
    """Adagrad, in place: each weight steps by ``learning_rate`` over the root of its summed
    squared gradients."""
    squares += gradient * gradient
    step = np.sqrt(squares)
    step += np.float32(1e-8)
    np.divide(gradient, step, out=step)
    step *= np.float32(learning_rate)
    weights -= step


def encode_themes(theme_lists: Sequence[Sequence[str]], classes: Sequence[str],
                  multilabel: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The labels of :meth:`StreamingThemeClassifier.update`.

    Parameters
    ----------
    theme_lists : sequence of sequence of str
        Each sentence's themes, the primary first (``["none"]`` for no theme).
    classes : sequence of str
        Every class id, ``none`` included (the classifier's ``labels``).
    multilabel : bool, default=True
        Also encode theme membership.

    Returns
    -------
    primary : ndarray of shape (n,), int
        Index of each sentence's primary theme in ``classes``.
    targets : ndarray of shape (n, n_themes), uint8, or None
        1 where a theme (``classes`` without ``none``) is among the sentence's themes; None
        without ``multilabel``.
    """
    index = {c: i for i, c in enumerate(classes)}
    firsts = [themes[0] for themes in theme_lists]
    unknown = set(firsts) - set(index)
    if unknown:
        raise ValueError(f"labels not in 'labels': {sorted(unknown)}")
    primary = np.array([index[first] for first in firsts], dtype=np.intp)
    if not multilabel:
        return primary, None
    column = {c: j for j, c in enumerate(c for c in classes if c != NO_THEME)}
    targets = np.zeros((len(theme_lists), len(column)), dtype=np.uint8)
    primary_column = np.array([column.get(c, -1) for c in classes])[primary]
    themed = np.flatnonzero(primary_column >= 0)
    targets[themed, primary_column[themed]] = 1
    # the themes after the first, in the few sentences that have them
    pairs = [(i, column[t]) for i, row in enumerate(theme_lists) if len(row) > 1
             for t in row[1:] if t in column]
    if pairs:
        rows, columns = zip(*pairs)
        targets[list(rows), list(columns)] = 1
    return primary, targets


class HashedWords(HashingVectorizer):
    """``HashingVectorizer`` whose features have names (``#<column>``), so that
    ``predict --explain`` can list them; a hashed column has no single n-gram to show.

    The word features of streaming models trained by earlier builds (new ones use
    :class:`~policy_themes.features.blocks.HashedNgrams`); kept so that those models still load."""

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Feature names ``#0`` ... ``#<n_features - 1>``."""
        return np.array([f"#{i}" for i in range(self.n_features)], dtype=object)


def build_streaming_pipeline(taxonomy: Taxonomy, *, n_features: int = 2**19) -> Pipeline:
    """Build the unfitted out-of-core pipeline.

    Parameters
    ----------
    taxonomy : Taxonomy
        Gives the class ids and the rules of the rule-vote features.
    n_features : int, default=2**19
        Columns the word 1-2-grams are hashed into (a power of two).
    Returns
    -------
    Pipeline
        Steps ``input``, ``features`` (``word``: hashed word 1-2-grams, ``rules``: rule votes,
        both over ``text``) and ``clf`` (:class:`StreamingThemeClassifier`); settable with
        ``set_params`` like the default pipeline, e.g. ``clf__alpha``.
    """
    if n_features < 2**8 or n_features > 2**30 or n_features & (n_features - 1):
        raise ConfigError(f"n_features must be a power of two between 2**8 and 2**30, not "
                          f"{n_features}")
    words = HashedNgrams(ngram_range=(1, 2), n_bits=n_features.bit_length() - 1)
    return Pipeline([
        ("input", InputFrame()),
        ("features", ColumnTransformer([("word", words, TEXT), ("rules", RuleVotes(taxonomy),
                                                                 TEXT)],
                                       sparse_threshold=1.0)),
        ("clf", StreamingThemeClassifier(labels=taxonomy.ids)),
    ])


