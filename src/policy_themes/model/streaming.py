"""Train a theme model out of core: hashed features and minibatch Adagrad, a chunk at a time.

For labeled data bigger than memory (the rules' weak labels of a whole archive, say),
:func:`train_streaming` never holds more than a few chunks: each chunk is read, labeled (with
``weak=True``), turned into features by worker processes and fed to ``partial_fit`` in input
order. The features need no vocabulary: word 1-2-grams hashed into a fixed number of columns
(:class:`~policy_themes.features.blocks.HashedNgrams`) beside the taxonomy rules' votes
(``RuleVotes``). The classifier, :class:`StreamingThemeClassifier`, has the two heads of
:class:`~ThemeClassifier` (primary theme; membership of each theme) as
the outputs of one linear model, and the same prediction methods, so the saved model directory
works with ``predict``, ``evaluate`` and ``info`` like any other.

A share of the documents (``holdout``) is kept out of training, up to ``max_holdout`` sentences:
the trained model's probabilities on them choose the per-theme thresholds and give the figures
recorded in ``model.json`` and the training report. Later epochs replay the first epoch's
features from a temporary folder instead of reading and labeling the input again.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from policy_themes.config import CVConfig, ThresholdConfig, TrainConfig
from policy_themes.errors import ConfigError, DataError
from policy_themes.features.blocks import HashedNgrams
from policy_themes.io.data import (
    THEME_COL,
    THEMES_COL,
    DocumentRows,
    iter_sentence_frames,
    join_themes,
    parse_themes,
    sentence_frame,
)
from policy_themes.model.arrays import linear_scores, softmax, stacked_membership_proba
from policy_themes.model.classifier import (
    TEXT,
    InputFrame,
    RuleVotes,
    ThemeDecisions,
    as_theme_lists,
    decide_themes,
    make_frame,
)
from policy_themes.rules.taxonomy import NO_THEME, Taxonomy, load_taxonomy

__all__ = ["StreamingThemeClassifier", "HashedWords", "build_streaming_pipeline", "encode_themes",
           "train_streaming", "StreamingResult", "save_streaming"]

ProgressCallback = Callable[[str, int, int], None]


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


@dataclass
class StreamingResult:
    """A model trained by :func:`train_streaming` and how it was measured.

    Attributes
    ----------
    pipeline : Pipeline
        The fitted pipeline, thresholds set.
    thresholds : dict of str to float
        Membership threshold per theme (chosen on the held-out sentences when there are some).
    holdout_metrics : dict or None
        ``compute_metrics`` figures on the held-out sentences; None when there were none.
    n_sentences : int
        Sentences trained on (held-out ones excluded).
    n_holdout : int
        Held-out sentences.
    fingerprint : str
        SHA-256 of all the texts and labels read, in order.
    primary_counts : dict of str to int
        Training sentences per primary theme.
    data_files : list of str
    weak : bool
    settings : dict
        The settings of the run (epochs, chunk size, hashing width, ``params``), for ``model.json``.
    """

    pipeline: Pipeline
    thresholds: dict[str, float]
    holdout_metrics: dict | None
    n_sentences: int
    n_holdout: int
    fingerprint: str
    primary_counts: dict[str, int]
    data_files: list[str] = field(default_factory=list)
    weak: bool = False
    settings: dict = field(default_factory=dict)
    holdout_texts: list[str] = field(default_factory=list)


@dataclass
class _Chunk:
    """What a worker makes of a chunk of sentences."""

    X: sp.csr_matrix  # float32 features
    primary: np.ndarray  # see encode_themes
    targets: np.ndarray | None
    held: np.ndarray  # held-out rows
    held_themes: list[list[str]]
    held_texts: list[str]
    blob: bytes  # texts and labels, for the fingerprint


class _Featurize:
    """Turn a chunk of sentences into features, encoded labels and held-out flags (in a worker).

    Picklable: each worker process receives the fitted feature step once.
    """

    def __init__(self, features, taxonomy: Taxonomy, weak: bool, label_column: str | None,
                 holdout: float, classes: Sequence[str], multilabel: bool):
        self.features = features
        self.taxonomy = taxonomy
        self.weak = weak
        self.label_column = label_column
        self.holdout = holdout
        self.classes = list(classes)
        self.multilabel = multilabel
        self._matcher = None

    def __getstate__(self):
        return {**self.__dict__, "_matcher": None}

    def __call__(self, chunk: pd.DataFrame | DocumentRows) -> _Chunk:
        frame = sentence_frame(chunk)  # documents are split here, in the worker
        texts = frame["text"].fillna("").astype(str).tolist()
        scores = None
        if self.weak:
            from policy_themes.rules.labeling import RuleMatcher, label_sentences

            if self._matcher is None:
                self._matcher = RuleMatcher(self.taxonomy)
            labels = label_sentences(texts, self.taxonomy, matcher=self._matcher,
                                     with_rules=False)
            themes, scores = labels.themes, labels.scores
        else:
            themes = self._gold(frame)
        X = self._transform(texts, scores)
        X.data = X.data.astype(np.float32)  # what the classifier computes with; half the bytes
        primary, targets = encode_themes(themes, self.classes, self.multilabel)
        held = self._held_out(frame["doc_id"].astype(str) if "doc_id" in frame.columns
                              else pd.Series(texts))
        blob = "".join([f"{t}\x1f{join_themes(r)}\x1e"
                        for t, r in zip(texts, themes)]).encode("utf-8")
        rows = np.flatnonzero(held).tolist()
        return _Chunk(X, primary, targets, held, [themes[i] for i in rows],
                      [texts[i] for i in rows], blob)

    def _held_out(self, keys: pd.Series) -> np.ndarray:
        """Whether each row is held out: a document is, or is not, as a whole, whatever the
        chunking (by the CRC-32 of its ``doc_id``, else of the sentence)."""
        codes, distinct = pd.factorize(keys)
        limit = int(self.holdout * 10_000)
        held = np.array([zlib.crc32(k.encode("utf-8")) % 10_000 < limit for k in distinct],
                        dtype=bool)
        return held[codes] if len(codes) else np.zeros(0, dtype=bool)

    def _transform(self, texts: list[str], scores: np.ndarray | None) -> sp.csr_matrix:
        """``features.transform``, except that a rule-vote block over the same taxonomy is
        read off the weak labels' theme scores instead of matching the rules a second time."""
        if scores is None:
            return self.features.transform(make_frame(texts)).tocsr()
        frame = make_frame(texts)
        blocks = []
        for name, transformer, column in self.features.transformers_:
            if name == "remainder":
                continue
            if (isinstance(transformer, RuleVotes) and not transformer.per_line
                    and transformer.taxonomy == self.taxonomy):
                blocks.append(sp.csr_matrix(np.log1p(scores[:, :len(transformer.themes_)])))
            else:
                blocks.append(transformer.transform(frame[column]))
        return sp.hstack(blocks, format="csr")

    def _gold(self, frame: pd.DataFrame) -> list[list[str]]:
        column = self.label_column
        if column is None:
            column = THEMES_COL if THEMES_COL in frame.columns else THEME_COL
        source = frame.attrs.get("source", "input")
        if column not in frame.columns:
            have = ", ".join(map(str, frame.columns))
            raise DataError(f"{source}: no '{column}' column (columns: {have}); give labeled "
                            "data, or --weak to train on the rules' labels")
        return parse_themes(frame[column], self.taxonomy, source=source,
                            rows=frame.index.tolist())


def train_streaming(
    data: Sequence[str | Path],
    *,
    taxonomy: str | Path | Taxonomy | None = None,
    model_dir: str | Path | None = None,
    weak: bool = False,
    text_column: str = "text",
    label_column: str | None = None,
    documents: bool = False,
    encoding: str | None = None,
    epochs: int = 1,
    chunksize: int = 20_000,
    n_features: int = 2**19,
    holdout: float = 0.05,
    max_holdout: int = 20_000,
    params: dict | None = None,
    seed: int = 0,
    jobs: int | None = 1,
    progress: ProgressCallback | None = None,
) -> StreamingResult:
    """Train a hashed-feature linear model chunk by chunk, in bounded memory, and save it.

    Parameters
    ----------
    data : sequence of str or Path
        Labeled tables (``text`` and ``themes`` or ``theme``); with ``weak=True``, unlabeled
        documents or tables, labeled by the taxonomy's rules as they stream.
    taxonomy : str, Path or Taxonomy, default=None
        Taxonomy; None uses the shipped default.
    model_dir : str or Path, default=None
        Where to save the model directory; None saves nothing.
    weak : bool, default=False
        Train on the rules' labels of unlabeled input.
    text_column, label_column, documents, encoding
        As for :func:`~policy_themes.workflows.training.train`.
    epochs : int, default=1
        Passes over the data; passes after the first replay cached features from a temporary
        folder (about 8 bytes per non-zero feature on disk).
    chunksize : int, default=20000
        Sentences per chunk (read, labeled and featurised together; the classifier updates
        every ``clf__batch_size`` of them).
    n_features : int, default=2**19
        Hashing width of the word 1-2-grams (a power of two).
    holdout : float, default=0.05
        Share of the documents (by ``doc_id``, else of the sentences) kept out of training to
        choose thresholds and measure the model.
    max_holdout : int, default=20000
        At most this many sentences are held out; later held-out ones are trained on (20,000
        give the accuracy within about a point and keep the final measuring to a second).
    params : dict, default=None
        ``step__param`` settings of the pipeline, e.g. ``{"clf__alpha": 1e-5}``.
    seed : int, default=0
        Seed of the bootstrap intervals of the held-out figures.
    jobs : int, default=1
        Processes that label and featurise chunks (None or 0: every core); the model is the same
        for any number.
    progress : callable, default=None
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    StreamingResult

    Raises
    ------
    DataError
        If the input is missing, malformed, unlabeled (without ``weak``) or has no text.
    ConfigError
        If a setting is out of range or a ``params`` name is not in the pipeline.
    """
    from policy_themes.parallel.pool import map_chunks
    from policy_themes.workflows.training import choose_thresholds

    taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    _check_settings(epochs, chunksize, holdout, max_holdout)
    if model_dir is not None:
        from policy_themes.model.store import check_model_dir

        check_model_dir(model_dir)
    paths = [Path(p) for p in data]
    if not paths:
        raise DataError("no training data given")
    pipeline = build_streaming_pipeline(taxonomy, n_features=n_features)
    _set_params(pipeline, params or {})
    # the features learn nothing; a blank text hashes nothing, so this process, which only
    # trains, never loads the compiled n-gram loops (about 110 MB): the workers hash
    features = pipeline.named_steps["features"].fit(make_frame([""]))
    clf = pipeline.named_steps["clf"]
    task = _Featurize(features, taxonomy, weak, label_column, holdout, clf.labels,
                      clf.multilabel)
    read = {"fraction": 0.0}
    frames = iter_sentence_frames(paths, text_column=text_column, documents=documents,
                                  chunksize=chunksize, encoding=encoding,
                                  progress=lambda f: read.__setitem__("fraction", f),
                                  split=False)
    digest = hashlib.sha256()
    primary_counts = np.zeros(len(clf.labels), dtype=np.int64)
    held_X, held_themes, held_texts = [], [], []
    n_train = n_held = 0
    cache = Path(tempfile.mkdtemp(prefix="policy-themes-sgd.")) if epochs > 1 else None
    try:
        _report(progress, "epoch 1", 0, 1000)
        for number, chunk in enumerate(map_chunks(task, frames, jobs=jobs)):
            digest.update(chunk.blob)
            X, primary, targets = chunk.X, chunk.primary, chunk.targets
            if n_held < max_holdout and chunk.held.any():
                keep = np.flatnonzero(chunk.held)[: max_holdout - n_held]
                held_X.append(X[keep])
                held_themes += chunk.held_themes[: len(keep)]
                held_texts += chunk.held_texts[: len(keep)]
                n_held += len(keep)
                train_rows = np.setdiff1d(np.arange(X.shape[0]), keep)
                X, primary = X[train_rows], primary[train_rows]
                targets = None if targets is None else targets[train_rows]
            if X.shape[0]:
                clf.update(X, primary, targets)
                n_train += X.shape[0]
                primary_counts += np.bincount(primary, minlength=len(primary_counts))
                if cache is not None:
                    _store(cache, number, X, primary, targets)
            _report(progress, "epoch 1", int(read["fraction"] * 1000), 1000)
        if not n_train:
            raise DataError(f"{', '.join(map(str, paths[:3]))}: no sentences to train on")
        for epoch in range(2, epochs + 1):
            stored = sorted(cache.glob("*.X.npz"))
            for done, path in enumerate(stored, start=1):
                clf.update(*_load(path))
                _report(progress, f"epoch {epoch}", done, len(stored))
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    counts = {str(c): int(n) for c, n in zip(clf.labels, primary_counts) if n}
    thresholds, metrics = {t: 0.5 for t in clf.themes_}, None
    if n_held:
        X_held = sp.vstack(held_X).tocsr()
        proba, membership = clf.predict_proba(X_held), clf.membership_proba(X_held)
        thresholds = choose_thresholds(membership, held_themes, list(clf.themes_),
                                       ThresholdConfig())
        vector = np.array([thresholds[t] for t in clf.themes_])
        primary, sets = decide_themes(proba, membership, list(clf.classes_), list(clf.themes_),
                                      vector)
        from policy_themes.evaluation.report import compute_metrics

        metrics = compute_metrics(held_themes, primary, sets, proba, list(clf.classes_),
                                  n_boot=200, seed=seed)
    clf.thresholds = thresholds
    settings = {"epochs": epochs, "chunksize": chunksize, "n_features": n_features,
                "holdout": holdout, "max_holdout": max_holdout, "seed": seed,
                "params": dict(params or {})}
    result = StreamingResult(pipeline, thresholds, metrics, n_train, n_held, digest.hexdigest(),
                             counts, [str(p) for p in paths], weak, settings, held_texts)
    if model_dir is not None:
        save_streaming(result, taxonomy, model_dir)
    return result


def _check_settings(epochs: int, chunksize: int, holdout: float, max_holdout: int) -> None:
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    if chunksize < 1:
        raise ConfigError(f"chunksize must be >= 1, got {chunksize}")
    if not 0 <= holdout < 1:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    if max_holdout < 0:
        raise ConfigError(f"max_holdout must be >= 0, got {max_holdout}")


def _set_params(pipeline: Pipeline, params: dict) -> None:
    from sklearn.utils._param_validation import InvalidParameterError

    valid = pipeline.get_params(deep=True)
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise ConfigError(f"'{unknown[0]}' is not a parameter of the streaming pipeline "
                          "(e.g. clf__alpha, clf__multilabel, features__word__ngram_range)")
    try:
        pipeline.set_params(**params)
        pipeline.named_steps["clf"]._validate_params()
    except InvalidParameterError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def _store(folder: Path, number: int, X, primary: np.ndarray,
           targets: np.ndarray | None) -> None:
    sp.save_npz(folder / f"{number:08d}.X.npz", X, compressed=False)
    labels = {"primary": primary} if targets is None else {"primary": primary, "targets": targets}
    np.savez(folder / f"{number:08d}.y.npz", **labels)


def _load(path: Path):
    with np.load(path.with_name(path.name.replace(".X.npz", ".y.npz"))) as labels:
        return sp.load_npz(path), labels["primary"], labels.get("targets")


def _report(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def save_streaming(result: StreamingResult, taxonomy: Taxonomy, model_dir: str | Path) -> Path:
    """Save a :class:`StreamingResult` as a model directory (``model.joblib``, ``model.json``
    and, when sentences were held out, the held-out report)."""
    from policy_themes.model.store import save_model

    model_dir = Path(model_dir)
    config = TrainConfig(seed=result.settings.get("seed", 0),
                         features={"word": True, "char": False, "rules": True,
                                   "context_words": False, "context_rules": False},
                         params=result.settings.get("params", {}), cv=CVConfig(folds=0),
                         source="train --streaming")
    headline = None
    if result.holdout_metrics is not None:
        keep = ("n", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "weighted_f1",
                "top3_accuracy", "set_micro_f1", "set_micro_f1_ci", "set_macro_f1",
                "subset_accuracy", "hamming_loss", "brier", "ece")
        headline = {k: result.holdout_metrics[k] for k in keep if k in result.holdout_metrics}
    meta = {
        "name": model_dir.name,
        "trainer": "streaming",
        "taxonomy": {"name": taxonomy.name, "ids": taxonomy.ids,
                     "fingerprint": taxonomy.fingerprint, "source": taxonomy.source},
        "config": config.to_dict(),
        "config_source": config.source,
        "streaming": result.settings,
        "training_data": {"files": result.data_files, "sentences": result.n_sentences,
                          "holdout_sentences": result.n_holdout,
                          "fingerprint": result.fingerprint, "weak_labels": result.weak,
                          "primary_counts": result.primary_counts},
        # measured on held-out documents, not by cross-validation (see "streaming")
        "cv_metrics": headline,
        "thresholds": result.thresholds,
    }

    def write_report(folder: Path) -> None:
        if result.holdout_metrics is None:
            return
        from policy_themes.evaluation.report import EvalReport

        EvalReport(metrics=result.holdout_metrics, baselines={}, texts=result.holdout_texts,
                   title=f"Training report: {model_dir.name} ({result.n_holdout:,} held-out "
                         "sentences)",
                   meta={"training data": ", ".join(result.data_files),
                         "sentences": result.n_sentences, "taxonomy": taxonomy.name,
                         "trainer": "streaming (hashed word 1-2-grams + rule votes, "
                                    "minibatch Adagrad)"},
                   ).write(folder)

    return save_model(model_dir, result.pipeline, meta, write_extra=write_report)
