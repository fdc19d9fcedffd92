"""Build the scikit-learn pipeline: features (word and character TF-IDF, rule votes, and the same
for the sentence's context) and a two-headed linear classifier.

The classifier has two heads over the same features:

- the *primary* head, one-vs-rest logistic regressions over every theme and ``none`` (or one
  multinomial logistic regression, by the ``solver`` setting), gives the probability that each
  theme is the sentence's primary theme (rows sum to 1);
- the *membership* head, one logistic regression per theme, gives the probability that the
  sentence carries the theme at all, primary or secondary.

A sentence's primary theme is the primary head's most probable class; its theme set is the primary
theme plus every other theme whose membership probability clears that theme's threshold (chosen on
cross-validation); a sentence whose most probable class is ``none`` gets ``["none"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from policy_themes.config import TrainConfig
from policy_themes.errors import ConfigError
from policy_themes.features.blocks import HashedTfidf
from policy_themes.model.decisions import decide_themes, stack_heads, stacked_membership_proba
from policy_themes.model.one_vs_rest import OneVsRestLogistic, fit_binary_head
from policy_themes.rules.taxonomy import NO_THEME, Taxonomy

__all__ = ["InputFrame", "RuleVotes", "ThemeClassifier", "ThemeDecisions", "as_theme_lists",
           "build_pipeline", "decide_themes", "make_frame", "TEXT", "CONTEXT"]

TEXT = "text"
CONTEXT = "context"


def make_frame(texts: Sequence[str], context: Sequence[str] | None = None) -> pd.DataFrame:
    """The pipeline's input: a DataFrame of ``text`` and ``context`` (empty when None)."""
    texts = [str(t) for t in texts]
    if context is None:
        context = [""] * len(texts)
    elif len(context) != len(texts):
        raise ValueError(f"{len(context)} contexts for {len(texts)} texts")
    return pd.DataFrame({TEXT: texts, CONTEXT: [str(c) for c in context]})


class InputFrame(TransformerMixin, BaseEstimator):
    """The pipeline's first step: sentences (a list of str) or a ``text``/``context`` DataFrame.

    A plain list becomes a frame with empty context, so ``pipeline.predict(["..."])`` works.
    """

    def fit(self, X, y=None):
        """Nothing to learn."""
        return self

    def transform(self, X) -> pd.DataFrame:
        """Return a DataFrame with ``text`` and ``context`` columns."""
        if isinstance(X, pd.DataFrame):
            context = X[CONTEXT].tolist() if CONTEXT in X.columns else None
            return make_frame(X[TEXT].tolist(), context)
        return make_frame(list(X))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The two columns it passes on."""
        return np.array([TEXT, CONTEXT], dtype=object)


class RuleVotes(TransformerMixin, BaseEstimator):
    """The taxonomy rules' votes as features: ``log1p`` of each theme's weighted rule votes.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy whose rules vote.
    per_line : bool, default=False
        Add up the votes of each line of a text (the sentences of a context, see
        :mod:`context`), matching each distinct line of a batch once: a sentence
        is in the context of up to ``2 * window`` neighbours.
    """

    def __init__(self, taxonomy: Taxonomy | None = None, per_line: bool = False):
        self.taxonomy = taxonomy
        self.per_line = per_line

    def fit(self, X, y=None):
        """Record the feature names; the rules need no fitting."""
        if self.taxonomy is None:
            raise ConfigError("RuleVotes needs a taxonomy")
        self.themes_ = list(self.taxonomy.theme_ids)
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> sp.csr_matrix:
        """Return a sparse (n_texts, n_themes) matrix of log-scaled rule votes."""
        check_is_fitted(self, "themes_")
        return self._rule_matcher().vote_features(list(X), len(self.themes_),
                                                  per_line=getattr(self, "per_line", False))

    def _rule_matcher(self):
        from policy_themes.rules.labeling import RuleMatcher

        matcher = self.__dict__.get("_matcher")
        if matcher is None:
            matcher = RuleMatcher(self.taxonomy)
            self.__dict__["_matcher"] = matcher
        return matcher

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Feature names: ``rule:<theme>``."""
        check_is_fitted(self, "themes_")
        return np.array([f"rule:{t}" for t in self.themes_], dtype=object)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_matcher", None)  # compiled regexes are rebuilt on first use
        return state


class ThemeDecisions:
    """The decisions every theme classifier shares, given ``predict_proba`` (primary head),
    ``membership_proba``, ``classes_``, ``themes_`` and ``thresholds``."""

    def predict(self, X) -> np.ndarray:
        """The primary theme of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def threshold_vector(self) -> np.ndarray:
        """Membership thresholds in ``themes_`` order."""
        thresholds = self.thresholds or {}
        return np.array([thresholds.get(t, 0.5) for t in self.themes_])

    def predict_themes(self, X) -> tuple[list[str], list[list[str]], np.ndarray, np.ndarray]:
        """Primary themes, theme sets, primary probabilities and membership probabilities."""
        proba = self.predict_proba(X)
        membership = self.membership_proba(X)
        primary, themes = decide_themes(proba, membership, list(self.classes_),
                                        list(self.themes_), self.threshold_vector())
        return primary, themes, proba, membership


class ThemeClassifier(ThemeDecisions, ClassifierMixin, BaseEstimator):
    """Primary-theme and theme-membership logistic regressions over one feature matrix.

    Parameters
    ----------
    labels : sequence of str, default=None
        Every class id, ``none`` included, in output order; None uses the classes seen in ``fit``.
    C : float, default=10.0
        Inverse regularisation strength of both heads.
    membership_C : float, default=None
        C of the membership head; None uses ``C``.
    class_weight : {"balanced"} or None, default="balanced"
        Class weights of the primary head.
    max_iter : int, default=2000
        Solver iterations.
    tol : float, default=None
        Stopping tolerance of every head's solver; None uses each solver's own default:
        LIBLINEAR's (0.1 for its dual solver, 0.01 for its primal one), 1e-4 for the others.
    solver : str, default="liblinear"
        Solver of the primary head: "liblinear" fits one binary head per class by LIBLINEAR
        (:class:`~policy_themes.model.one_vs_rest.OneVsRestLogistic`, probabilities normalised
        to sum to 1); another ``LogisticRegression`` solver ("newton-cg", "lbfgs", "saga")
        fits one multinomial logistic regression. The membership heads always use LIBLINEAR.
    multilabel : bool, default=True
        Fit the membership head; without it, theme sets are only the primary theme.
    thresholds : dict of str to float, default=None
        Membership thresholds per theme (set after cross-validation); missing themes use 0.5.
    random_state : int, default=0
        Seed for the solvers.

    Notes
    -----
    ``y`` is a sequence of theme lists, the primary theme first (``["none"]`` for no theme), or a
    sequence of single theme ids.
    """

    def __init__(self, labels: Sequence[str] | None = None, C: float = 10.0,
                 membership_C: float | None = None, class_weight: str | None = "balanced",
                 max_iter: int = 2000, solver: str = "liblinear", multilabel: bool = True,
                 thresholds: dict | None = None, random_state: int = 0,
                 tol: float | None = None):
        self.labels = labels
        self.C = C
        self.membership_C = membership_C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.solver = solver
        self.multilabel = multilabel
        self.thresholds = thresholds
        self.random_state = random_state
        self.tol = tol

    def fit(self, X, y, sample_weight=None):
        """Fit both heads on features ``X`` and theme lists ``y`` (rows weighted by
        ``sample_weight``, None: all 1)."""
        theme_lists = as_theme_lists(y)
        primary = np.array([themes[0] for themes in theme_lists], dtype=object)
        labels = list(self.labels) if self.labels is not None else sorted(set(primary))
        unknown = set(primary) - set(labels)
        if unknown:
            raise ValueError(f"labels not in 'labels': {sorted(unknown)}")
        if len(set(primary)) < 2:
            raise ValueError("training data needs at least two different primary themes")
        self.classes_ = np.array(labels, dtype=object)
        self.primary_ = self.primary_head().fit(X, primary, sample_weight=sample_weight)
        self._primary_columns = np.array(
            [list(self.classes_).index(c) for c in self.primary_.classes_]
        )
        self.themes_ = np.array([c for c in labels if c != NO_THEME], dtype=object)
        self.membership_ = []
        if self.multilabel:
            targets = _membership_matrix(theme_lists, list(self.themes_))
            for j in range(len(self.themes_)):
                self.membership_.append(self._fit_membership(X, targets[:, j], sample_weight))
        return self

    def primary_head(self):
        """The primary head as configured, unfitted: a :class:`OneVsRestLogistic` for the
        "liblinear" solver, a multinomial ``LogisticRegression`` for the others."""
        tol = getattr(self, "tol", None)
        if self.solver == "liblinear":
            return OneVsRestLogistic(C=self.C, class_weight=self.class_weight, tol=tol,
                                     max_iter=self.max_iter, random_state=self.random_state)
        return LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
            solver=self.solver, tol=1e-4 if tol is None else tol, random_state=self.random_state)

    def _fit_membership(self, X, target: np.ndarray, sample_weight=None):
        """One binary head, or the constant rate when the theme never (or always) occurs."""
        if target.min() == target.max():
            return float(target[0])
        return fit_binary_head(X, target, C=self.membership_C or self.C,
                               tol=getattr(self, "tol", None), max_iter=self.max_iter,
                               random_state=self.random_state, sample_weight=sample_weight)

    def predict_proba(self, X) -> np.ndarray:
        """Probability that each class of ``classes_`` is the primary theme."""
        check_is_fitted(self, "primary_")
        proba = np.zeros((X.shape[0], len(self.classes_)))
        proba[:, self._primary_columns] = self.primary_.predict_proba(X)
        return proba

    def membership_proba(self, X) -> np.ndarray:
        """Probability that each theme of ``themes_`` is among the sentence's themes."""
        check_is_fitted(self, "primary_")
        if not self.membership_:
            return self._membership_from_primary(X)
        stacked = self.__dict__.get("_stacked")
        if stacked is None:
            # the binary heads' decision functions in one product instead of one pass each
            stacked = stack_heads(self.membership_, self.primary_.coef_.shape[1])
            self.__dict__["_stacked"] = stacked
        return stacked_membership_proba(X, len(self.membership_), **stacked)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_stacked", None)  # rebuilt from the heads on first use
        return state

    def _membership_from_primary(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        index = [list(self.classes_).index(t) for t in self.themes_]
        return proba[:, index]



def as_theme_lists(y) -> list[list[str]]:
    """Each target of ``y`` as a list of themes: a string is one theme, anything else a
    sequence of themes, primary first (the targets of :class:`ThemeClassifier` and of the
    streaming classifier).

    Raises
    ------
    ValueError
        If a target is an empty sequence.
    """
    lists = []
    for value in y:
        if isinstance(value, str):
            lists.append([value])
        else:
            items = list(value)
            if not items:
                raise ValueError("empty theme list in y")
            lists.append(items)
    return lists


def _membership_matrix(theme_lists: list[list[str]], themes: list[str]) -> np.ndarray:
    index = {t: j for j, t in enumerate(themes)}
    matrix = np.zeros((len(theme_lists), len(themes)), dtype=int)
    for i, row in enumerate(theme_lists):
        for theme in row:
            if theme in index:
                matrix[i, index[theme]] = 1
    return matrix


def build_pipeline(config: TrainConfig, taxonomy: Taxonomy) -> Pipeline:
    """Build the unfitted pipeline described by a training config.

    Parameters
    ----------
    config : TrainConfig
        Which feature blocks to use and the ``step__param`` settings.
    taxonomy : Taxonomy
        Gives the class ids and the rules for the rule-vote features.

    Returns
    -------
    Pipeline
        Steps ``input`` (:class:`InputFrame`: a list of sentences, or a DataFrame made by
        :func:`make_frame`), ``features`` (a ColumnTransformer of ``word``, ``char``, ``rules``
        over the ``text`` column and ``context_words``, ``context_rules`` over ``context``; with
        the embeddings extra, ``embeddings`` and ``context_embeddings``) and
        ``clf``.

    Raises
    ------
    ConfigError
        If a ``params`` name does not exist in the pipeline.
    """
    blocks = []
    if config.features.get("word", True):
        blocks.append(("word", HashedTfidf(sublinear_tf=True, ngram_range=(1, 2)), TEXT))
    if config.features.get("char", True):
        blocks.append(("char", HashedTfidf(analyzer="char_wb", ngram_range=(2, 5),
                                           sublinear_tf=True, min_df=2), TEXT))
    if config.features.get("rules", True):
        blocks.append(("rules", RuleVotes(taxonomy), TEXT))
    if config.features.get("context_words", False):
        blocks.append(("context_words", HashedTfidf(sublinear_tf=True, min_df=2), CONTEXT))
    if config.features.get("context_rules", False):
        blocks.append(("context_rules", RuleVotes(taxonomy, per_line=True), CONTEXT))
    if config.uses_embeddings:
        from policy_themes.features.embeddings import SentenceEmbeddings

        if config.features.get("embeddings", False):
            blocks.append(("embeddings", SentenceEmbeddings(), TEXT))
        if config.features.get("context_embeddings", False):
            blocks.append(("context_embeddings", SentenceEmbeddings(), CONTEXT))
    pipeline = Pipeline([
        ("input", InputFrame()),
        ("features", ColumnTransformer(blocks, sparse_threshold=1.0)),
        ("clf", ThemeClassifier(labels=taxonomy.ids, random_state=config.seed)),
    ])
    # settings of a feature block that is switched off are ignored, so blocks toggle freely
    off = [f"features__{name}__" for name, on in config.features.items() if not on]
    params = {k: v for k, v in config.params.items() if not k.startswith(tuple(off))}
    valid = pipeline.get_params(deep=True)
    unknown = [k for k in params if k not in valid]
    if unknown:
        key = unknown[0]
        where = f"--set {key}" if key in config.overridden else \
            f"{config.source}: params key '{key}'"
        raise ConfigError(f"{where} is not a parameter of the "
                          "pipeline (steps: features__word, features__char, features__rules, "
                          "features__context_words, features__context_rules, "
                          "features__embeddings, features__context_embeddings, clf)")
    pipeline.set_params(**params)
    return pipeline
