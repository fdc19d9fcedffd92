"""Train a theme model out of core: hashed features and minibatch Adagrad, a chunk at a time.

For labeled data bigger than memory (the rules' weak labels of a whole archive, say),
:func:`train_streaming` never holds more than a few chunks: each chunk is read, labeled (with
``weak=True``), turned into features by worker processes and fed to ``partial_fit`` in input
order. The features need no vocabulary: word 1-2-grams hashed into a fixed number of columns
(:class:`~policy_themes.features.blocks.HashedNgrams`) beside the taxonomy rules' votes
(``RuleVotes``). The classifier,
:class:`~policy_themes.model.streaming.StreamingThemeClassifier`, has the two heads of
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from policy_themes.config import CVConfig, ThresholdConfig, TrainConfig
from policy_themes.errors import ConfigError, DataError
from policy_themes.evaluation.metrics import headline_metrics
from policy_themes.evaluation.report import EvalReport
from policy_themes.io.labels import join_themes, parse_themes
from policy_themes.io.sentence_frames import DocumentRows, iter_sentence_frames, sentence_frame
from policy_themes.io.tables import THEME_COL, THEMES_COL
from policy_themes.model.classifier import (
    RuleVotes,
    decide_themes,
    make_frame,
)
from policy_themes.model.streaming import (
    build_streaming_pipeline,
    encode_themes,
)
from policy_themes.rules.taxonomy import Taxonomy, load_taxonomy
from policy_themes.workflows.training import ProgressCallback, report_progress

__all__ = ["train_streaming", "StreamingResult", "save_streaming"]

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
    # trains, never loads the compiled n-gram loops: the workers hash
    features = pipeline.named_steps["features"].fit(make_frame([""]))
    clf = pipeline.named_steps["clf"]
    task = _Featurize(features, taxonomy, weak, label_column, holdout, clf.labels,
                      clf.multilabel)
    read = {"fraction": 0.0}
    frames = iter_sentence_frames(paths, text_column=text_column, documents=documents,
                                  chunksize=chunksize, encoding=encoding,
                                  progress=lambda f: read.__setitem__("fraction", f),
                                  split=False)
    stream = _Stream(clf, max_holdout, np.zeros(len(clf.labels), dtype=np.int64))
    _fit_epochs(stream, task, frames, epochs=epochs, jobs=jobs, progress=progress,
                read=read)
    if not stream.n_train:
        raise DataError(f"{', '.join(map(str, paths[:3]))}: no sentences to train on")
    thresholds, metrics = _held_out_figures(stream, seed)
    clf.thresholds = thresholds
    counts = {str(c): int(n) for c, n in zip(clf.labels, stream.primary_counts) if n}
    settings = {"epochs": epochs, "chunksize": chunksize, "n_features": n_features,
                "holdout": holdout, "max_holdout": max_holdout, "seed": seed,
                "params": dict(params or {})}
    result = StreamingResult(pipeline, thresholds, metrics, stream.n_train, stream.n_held,
                             stream.digest.hexdigest(), counts, [str(p) for p in paths], weak,
                             settings, stream.held_texts)
    if model_dir is not None:
        save_streaming(result, taxonomy, model_dir)
    return result


@dataclass
class _Stream:
    """What :func:`train_streaming` keeps while the chunks go by: the classifier being
    fitted, the held-out rows and the counts."""

    clf: object
    max_holdout: int
    primary_counts: np.ndarray
    digest: object = field(default_factory=hashlib.sha256)
    held_X: list = field(default_factory=list)
    held_themes: list = field(default_factory=list)
    held_texts: list = field(default_factory=list)
    n_train: int = 0
    n_held: int = 0

    def take(self, chunk: _Chunk):
        """Keep the chunk's held-out rows (up to ``max_holdout`` in all); return the rest:
        ``X``, ``primary`` and ``targets`` to train on."""
        self.digest.update(chunk.blob)
        X, primary, targets = chunk.X, chunk.primary, chunk.targets
        if self.n_held >= self.max_holdout or not chunk.held.any():
            return X, primary, targets
        keep = np.flatnonzero(chunk.held)[: self.max_holdout - self.n_held]
        self.held_X.append(X[keep])
        self.held_themes += chunk.held_themes[: len(keep)]
        self.held_texts += chunk.held_texts[: len(keep)]
        self.n_held += len(keep)
        train_rows = np.setdiff1d(np.arange(X.shape[0]), keep)
        return (X[train_rows], primary[train_rows],
                None if targets is None else targets[train_rows])

    def update(self, X, primary: np.ndarray, targets) -> None:
        """Fit the classifier on one chunk's training rows."""
        self.clf.update(X, primary, targets)
        self.n_train += X.shape[0]
        self.primary_counts += np.bincount(primary, minlength=len(self.primary_counts))


def _fit_epochs(stream: _Stream, task, frames, *, epochs: int, jobs: int | None,
                progress: ProgressCallback | None, read: dict) -> None:
    """The first epoch over the chunks the workers featurise, then the later epochs over
    the features cached on disk by the first."""
    from policy_themes.parallel.pool import map_chunks

    cache = Path(tempfile.mkdtemp(prefix="policy-themes-sgd.")) if epochs > 1 else None
    try:
        report_progress(progress, "epoch 1", 0, 1000)
        for number, chunk in enumerate(map_chunks(task, frames, jobs=jobs)):
            X, primary, targets = stream.take(chunk)
            if X.shape[0]:
                stream.update(X, primary, targets)
                if cache is not None:
                    _store(cache, number, X, primary, targets)
            report_progress(progress, "epoch 1", int(read["fraction"] * 1000), 1000)
        if not stream.n_train:
            return
        for epoch in range(2, epochs + 1):
            stored = sorted(cache.glob("*.X.npz"))
            for done, path in enumerate(stored, start=1):
                stream.clf.update(*_load(path))
                report_progress(progress, f"epoch {epoch}", done, len(stored))
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def _held_out_figures(stream: _Stream, seed: int) -> tuple[dict[str, float], dict | None]:
    """Thresholds chosen on the held-out rows and the model's figures there (0.5 each and
    no figures without held-out rows)."""
    from policy_themes.evaluation.metrics import compute_metrics
    from policy_themes.model.decisions import choose_thresholds

    clf = stream.clf
    if not stream.n_held:
        return {t: 0.5 for t in clf.themes_}, None
    X_held = sp.vstack(stream.held_X).tocsr()
    proba, membership = clf.predict_proba(X_held), clf.membership_proba(X_held)
    thresholds = choose_thresholds(membership, stream.held_themes, list(clf.themes_),
                                   ThresholdConfig())
    vector = np.array([thresholds[t] for t in clf.themes_])
    primary, sets = decide_themes(proba, membership, list(clf.classes_), list(clf.themes_),
                                  vector)
    metrics = compute_metrics(stream.held_themes, primary, sets, proba, list(clf.classes_),
                              n_boot=200, seed=seed)
    return thresholds, metrics


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


def save_streaming(result: StreamingResult, taxonomy: Taxonomy, model_dir: str | Path) -> Path:
    """Save a :class:`StreamingResult` as a model directory (``model.joblib``, ``model.json``
    and, when sentences were held out, the held-out report)."""
    from policy_themes.model.store import save_model
    from policy_themes.resources import describe_data_files
    from policy_themes.workflows.saving import model_meta

    model_dir = Path(model_dir)
    config = TrainConfig(seed=result.settings.get("seed", 0),
                         features={"word": True, "char": False, "rules": True,
                                   "context_words": False, "context_rules": False},
                         params=result.settings.get("params", {}), cv=CVConfig(folds=0),
                         source="train --streaming")
    # cv_metrics: measured on held-out documents, not by cross-validation (see "streaming")
    meta = model_meta(model_dir.name, taxonomy, config,
                      training_data={"files": result.data_files,
                                     "sentences": result.n_sentences,
                                     "holdout_sentences": result.n_holdout,
                                     "fingerprint": result.fingerprint,
                                     "weak_labels": result.weak,
                                     "primary_counts": result.primary_counts},
                      cv_metrics=headline_metrics(result.holdout_metrics),
                      thresholds=result.thresholds,
                      trainer="streaming", streaming=result.settings)

    def write_report(folder: Path) -> None:
        if result.holdout_metrics is None:
            return
        EvalReport(metrics=result.holdout_metrics, baselines={}, texts=result.holdout_texts,
                   title=f"Training report: {model_dir.name} ({result.n_holdout:,} held-out "
                         "sentences)",
                   meta={"training data": describe_data_files(result.data_files),
                         "sentences": result.n_sentences, "taxonomy": taxonomy.name,
                         "trainer": "streaming (hashed word 1-2-grams + rule votes, "
                                    "minibatch Adagrad)"},
                   ).write(folder)

    return save_model(model_dir, result.pipeline, meta, write_extra=write_report)
