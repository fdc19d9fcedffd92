"""Train a theme model: cross-validate, choose per-theme thresholds, fit on all the data.

:func:`train_model` works on texts and theme lists in memory; :func:`train` reads the data files
(hand labels, or the rules' weak labels for unlabeled input), trains and saves a model directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from policy_themes.config import TrainConfig, load_train_config
from policy_themes.errors import ConfigError, DataError, ModelError
from policy_themes.model.classifier import build_pipeline, decide_themes, make_frame
from policy_themes.model.decisions import choose_thresholds
from policy_themes.rules.taxonomy import Taxonomy, load_taxonomy
from policy_themes.workflows.training_data import DEFAULT_DATA, read_rows

__all__ = ["TrainResult", "train_model", "train", "drop_context", "fitting_inputs", "OutOfFold",
           "out_of_fold_proba"]


ProgressCallback = Callable[[str, int, int], None]


@dataclass
class TrainResult:
    """A trained model and how it was measured.

    Attributes
    ----------
    pipeline : Pipeline
        The fitted pipeline (features + ``ThemeClassifier`` with its thresholds set).
    thresholds : dict of str to float
        Membership threshold per theme.
    cv_metrics : dict or None
        Cross-validated figures (``compute_metrics`` output), None when ``cv.folds`` is 0.
    n_sentences : int
        Training sentences.
    fingerprint : str
        SHA-256 of the training texts and labels.
    config : TrainConfig
    taxonomy : Taxonomy
    cv_predictions : DataFrame or None
        Out-of-fold primary theme and theme set for every training sentence.
    data_files : list of str
        Where the training data came from.
    weak : bool
        Whether the labels were the rules' weak labels.
    primary_counts : dict of str to int
        Training sentences per primary theme.
    findings : list of DataFinding
        What :func:`train` noticed in the data without stopping: rows skipped for blank text,
        duplicate rows, texts labeled with different themes (also saved in ``model.json``).
    """

    pipeline: Pipeline
    thresholds: dict[str, float]
    cv_metrics: dict | None
    n_sentences: int
    fingerprint: str
    config: TrainConfig
    taxonomy: Taxonomy
    cv_predictions: pd.DataFrame | None = None
    data_files: list[str] = field(default_factory=list)
    weak: bool = False
    primary_counts: dict[str, int] = field(default_factory=dict)
    findings: list = field(default_factory=list)


def train_model(
    texts: Sequence[str],
    themes: Sequence[Sequence[str]],
    *,
    config: TrainConfig,
    taxonomy: Taxonomy,
    groups: Sequence[str] | None = None,
    context: Sequence[str] | None = None,
    sample_weight: Sequence[float] | None = None,
    measured: Sequence[bool] | None = None,
    n_jobs: int = 1,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Cross-validate, choose thresholds and fit the pipeline on all sentences.

    Parameters
    ----------
    texts : sequence of str
        Training sentences.
    themes : sequence of sequence of str
        Theme ids per sentence, primary first (``["none"]`` for no theme).
    config : TrainConfig
        Pipeline settings, cross-validation and thresholds.
    taxonomy : Taxonomy
        The taxonomy the labels use.
    groups : sequence of str, default=None
        Document ids: cross-validation never splits a document across folds.
    context : sequence of str, default=None
        Each sentence's context (see :mod:`policy_themes.features.context`); when there is none, the
        config's context feature blocks are switched off.
    sample_weight : sequence of float, default=None
        Each sentence's weight in fitting; None weighs all alike.
    measured : sequence of bool, default=None
        The sentences cross-validation holds out and measures (and chooses the thresholds
        on); the others are in the training side of every fold. None measures all.
    n_jobs : int, default=1
        Cross-validation folds fitted in parallel.
    progress : callable, default=None
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    TrainResult

    Raises
    ------
    DataError
        If there are too few sentences or themes for the requested cross-validation.
    ConfigError
        If a scikit-learn parameter in the config is invalid.
    """
    texts = [str(t) for t in texts]
    themes = [list(t) for t in themes]
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    held = np.ones(len(texts), dtype=bool) if measured is None else \
        np.asarray(measured, dtype=bool)
    check_training_data([t for t, m in zip(texts, held) if m],
                         [t for t, m in zip(themes, held) if m], config,
                         None if groups is None else [g for g, m in zip(groups, held) if m])
    config, inputs = model_inputs(texts, context, config)
    if config.uses_embeddings:
        n_jobs = 1  # the folds share this process's embeddings: each sentence embedded once
    pipeline, oof = _fit_and_cross_validate(build_pipeline(config, taxonomy), inputs, themes,
                                            groups, config, n_jobs, progress, weights=weights,
                                            held=held)
    thresholds, cv_metrics, cv_predictions = _cv_outcome(oof, texts, themes, held, config)
    if not thresholds:
        clf = pipeline.named_steps["clf"]
        thresholds = {t: config.thresholds.default for t in clf.themes_}
    pipeline.set_params(clf__thresholds=thresholds)
    counts = pd.Series([t[0] for t in themes]).value_counts()
    return TrainResult(pipeline, thresholds, cv_metrics, len(texts), _fingerprint(texts, themes),
                       config, taxonomy, cv_predictions,
                       primary_counts={str(k): int(v) for k, v in counts.items()})


def _fit_and_cross_validate(pipeline, inputs, themes, groups, config, n_jobs, progress, *,
                            weights, held):
    """The pipeline fitted on every row, and the out-of-fold probabilities of the ``held`` rows
    (None when ``cv.folds`` is 0). The final fit is one more job beside the folds: it needs
    nothing from them (the thresholds are set afterwards), so the cores are never idle."""
    if not config.cv.folds:
        report_progress(progress, "fit", 0, 1)
        fitted = _fit(clone(pipeline), inputs, themes, config, weights)
        report_progress(progress, "fit", 1, 1)
        return fitted, None
    oof, fitted = _cross_validate(pipeline, inputs, themes, groups, config, n_jobs, progress,
                                  weights=weights, held=held, final_fit=True)
    return fitted, oof


def _cv_outcome(oof, texts, themes, held, config):
    """Thresholds, metrics and predictions of the out-of-fold probabilities (nothing when
    there was no cross-validation)."""
    if oof is None:
        return {}, None, None
    rows = np.flatnonzero(held)
    classes, theme_ids, proba, membership = oof
    gold = [themes[i] for i in rows]
    thresholds = choose_thresholds(membership, gold, theme_ids, config.thresholds)
    vector = np.array([thresholds[t] for t in theme_ids])
    primary, sets = decide_themes(proba, membership, classes, theme_ids, vector)
    cv_metrics = _metrics(gold, primary, sets, proba, classes, config.seed)
    cv_predictions = pd.DataFrame({"text": [texts[i] for i in rows],
                                   "gold": [";".join(t) for t in gold],
                                   "primary": primary, "themes": [";".join(s) for s in sets]})
    return thresholds, cv_metrics, cv_predictions


def model_inputs(texts: list[str], context, config: TrainConfig
                 ) -> tuple[TrainConfig, pd.DataFrame]:
    """The pipeline's input frame, and the config with its context blocks off when the
    sentences have no context."""
    if config.uses_context and not any(str(c).strip() for c in context or []):
        config = config.without_context()
    return config, make_frame(texts, context if config.uses_context else None)


@dataclass
class OutOfFold:
    """Cross-validated probabilities: each row's from the fold model that did not see it.

    Attributes
    ----------
    classes : list of str
        Column ids of ``proba`` (every theme and ``none``).
    proba : ndarray of shape (n_rows, n_classes)
        Probability of each class being the row's primary theme.
    folds : int
        Number of folds.
    """

    classes: list[str]
    proba: np.ndarray
    folds: int


def out_of_fold_proba(
    texts: Sequence[str],
    themes: Sequence[Sequence[str]],
    *,
    config: TrainConfig,
    taxonomy: Taxonomy,
    groups: Sequence[str] | None = None,
    context: Sequence[str] | None = None,
    sample_weight: Sequence[float] | None = None,
    n_jobs: int = 1,
    progress: ProgressCallback | None = None,
) -> OutOfFold:
    """Primary-theme probabilities of every sentence from the cross-validation ``train`` runs.

    The folds are :func:`train_model`'s (``config.cv.folds``, grouped by ``groups``, the same
    seed), but every row is held out once (``data.cross_validate`` is not applied) and only the
    primary head is fitted: the membership heads do not change these probabilities.

    Parameters
    ----------
    texts, themes, config, taxonomy, groups, context, sample_weight, n_jobs, progress
        As for :func:`train_model`.

    Returns
    -------
    OutOfFold

    Raises
    ------
    DataError
        If ``config.cv.folds`` is 0, or there are too few sentences, themes or documents for
        the folds.
    ConfigError
        If a scikit-learn parameter in the config is invalid.
    """
    texts = [str(t) for t in texts]
    themes = [list(t) for t in themes]
    if not config.cv.folds:
        raise DataError("out-of-fold probabilities need cross-validation; the config has "
                        "cv.folds: 0 (set 2 or more, e.g. --folds 5)")
    check_training_data(texts, themes, config, None if groups is None else list(groups))
    config, inputs = model_inputs(texts, context, config)
    pipeline = build_pipeline(config, taxonomy).set_params(clf__multilabel=False)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if config.uses_embeddings:
        n_jobs = 1  # the folds share this process's embeddings: each sentence embedded once
    classes, _, proba, _ = _cross_validate(pipeline, inputs, themes, groups, config, n_jobs,
                                           progress, weights=weights)
    return OutOfFold([str(c) for c in classes], proba, config.cv.folds)


def check_training_data(texts, themes, config: TrainConfig, groups=None) -> None:
    """Raise DataError when the rows cannot be cross-validated as ``config`` says (no rows,
    one primary theme, fewer examples of a theme or fewer documents than folds)."""
    if not texts:
        raise DataError("no training sentences")
    primary = pd.Series([t[0] for t in themes])
    counts = primary.value_counts()
    if len(counts) < 2:
        raise DataError(f"training needs at least two different primary themes; every sentence "
                        f"is '{counts.index[0]}'")
    folds = config.cv.folds
    if folds and counts.min() < folds:
        rare = counts[counts < folds]
        listed = ", ".join(f"'{k}' ({v})" for k, v in rare.items())
        raise DataError(f"too few examples for {folds}-fold cross-validation: {listed}; add "
                        f"examples or lower the folds (--folds, or cv.folds: 0 to skip)")
    n_groups = len(set(groups)) if groups is not None else None
    if folds and n_groups is not None and n_groups < folds:
        raise DataError(f"too few documents for {folds}-fold cross-validation grouped by "
                        f"document: {n_groups}; add documents or lower the folds (--folds, or "
                        "cv.folds: 0 to skip)")


def _fit(pipeline: Pipeline, inputs: pd.DataFrame, themes, config: TrainConfig,
         weights: np.ndarray | None = None) -> Pipeline:
    """Fit, turning scikit-learn's parameter validation errors into ConfigError."""
    inputs = fitting_inputs(inputs, config)
    with config_errors(config):
        if weights is None:
            return pipeline.fit(inputs, themes)
        return pipeline.fit(inputs, themes, clf__sample_weight=weights)


@contextlib.contextmanager
def config_errors(config: TrainConfig):
    """Turn scikit-learn's complaints about a parameter of ``config`` into a ConfigError that
    names the setting."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        yield
    except InvalidParameterError as exc:
        message = str(exc).splitlines()[0]
        key = _param_key(message, config)
        raise ConfigError(f"{config.where(key) if key else config.source}: {message}") from None
    except ValueError as exc:  # a value scikit-learn takes, but cannot fit with (C=inf)
        message = " ".join(str(exc).split())
        key = _param_named_in(message, config)
        if key is None:
            raise
        raise ConfigError(f"{config.where(key)}: {message}") from None


def fitting_inputs(inputs: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """The input a model is fitted on: ``inputs`` with ``config``'s context dropout applied
    (:func:`drop_context`), or ``inputs`` itself when the config reads no context or drops
    none."""
    if config.uses_context and config.context.dropout:
        return drop_context(inputs, config.context.dropout, config.seed)
    return inputs


def drop_context(inputs: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """A copy of the pipeline's input with the context of a seeded random ``share`` of its rows
    left empty (``context.dropout``: the model learns to read sentences without context too).
    A row's fate depends on its text and the seed alone, not on the rows beside it."""
    from policy_themes.model.classifier import CONTEXT, TEXT

    digests = np.array([int.from_bytes(hashlib.blake2b(f"{seed}:{text}".encode(),
                                                      digest_size=8).digest(), "little")
                        for text in inputs[TEXT]], dtype=np.uint64)
    dropped = digests < np.uint64(share * 2.0**64)
    out = inputs.copy()
    out.loc[dropped, CONTEXT] = ""
    return out


def _param_key(message: str, config: TrainConfig) -> str:
    """The config key a scikit-learn message is about ("The 'C' parameter of ..." -> clf__C);
    empty when none is."""
    match = re.search(r"The '(\w+)' parameter", message)
    if match is None:
        return ""
    keys = [k for k in config.params if k.rsplit("__", 1)[-1] == match.group(1)]
    return keys[0] if keys else ""


def _param_named_in(message: str, config: TrainConfig) -> str | None:
    """The config key whose parameter an error message names (``C=np.inf ...`` -> clf__C),
    the ones set with ``--set`` first; None when it names none."""
    keys = sorted(config.params, key=lambda k: k not in config.overridden)
    for key in keys:
        if re.search(rf"(?<![\w.]){re.escape(key.rsplit('__', 1)[-1])}\b", message):
            return key
    return None


def _cross_validate(pipeline, inputs, themes, groups, config, n_jobs, progress, *,
                    weights=None, held=None, final_fit=False):
    """Out-of-fold primary and membership probabilities of the ``held`` rows (all when None),
    the other rows in the training side of every fold; with ``final_fit``, also the pipeline
    fitted on every row, as one more job of the same pool: ``(oof, fitted)``."""
    from joblib import Parallel, delayed

    from policy_themes.parallel.pool import resolve_jobs

    held = np.ones(len(themes), dtype=bool) if held is None else held
    rows = np.flatnonzero(held)
    splits = _fold_splits(themes, groups, held, config)
    total = len(splits)
    report_progress(progress, "cross-validation", 0, total)
    jobs = [delayed(_fit_fold)(clone(pipeline), inputs, themes, train, test, config, weights)
            for train, test in splits]
    if final_fit:
        jobs.append(delayed(_fit)(clone(pipeline), inputs, themes, config, weights))
    results = []
    parallel = Parallel(n_jobs=min(resolve_jobs(n_jobs), len(jobs)), return_as="generator")
    for done, result in enumerate(parallel(jobs), start=1):
        results.append(result)
        if done <= total:
            report_progress(progress, "cross-validation", done, total)
        if done == total and final_fit:
            report_progress(progress, "fit", 0, 1)
    oof = _gather_folds(results[:total], splits, rows, len(inputs))
    if not final_fit:
        return oof
    report_progress(progress, "fit", 1, 1)
    return oof, results[total]


def _fold_splits(themes, groups, held, config) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds' (train, test) rows: the ``held`` rows split (by ``groups``), the others in
    every fold's training side."""
    primary = np.array([t[0] for t in themes], dtype=object)
    rows, always = np.flatnonzero(held), np.flatnonzero(~held)
    held_groups = None if groups is None else [groups[i] for i in rows]
    splits = [(np.concatenate([always, rows[train]]), rows[test]) for train, test in
              _splitter(config, held_groups).split(rows, primary[rows], held_groups)]
    for train, _ in splits:
        if len(set(primary[train])) < 2:
            raise DataError(f"a {config.cv.folds}-fold cross-validation split by document leaves "
                            f"only '{primary[train][0]}' to train on; spread each theme over "
                            "more documents or lower the folds (--folds, or cv.folds: 0 to "
                            "skip)")
    return splits


def _gather_folds(results, splits, rows, n_inputs):
    """The folds' probabilities as ``(classes, theme_ids, proba, membership)`` over ``rows``."""
    classes, theme_ids = results[0][2], results[0][3]
    position = np.full(n_inputs, -1)
    position[rows] = np.arange(len(rows))
    proba = np.zeros((len(rows), len(classes)))
    membership = np.zeros((len(rows), len(theme_ids)))
    for (_, test), (fold_proba, fold_membership, _, _) in zip(splits, results):
        proba[position[test]] = fold_proba
        membership[position[test]] = fold_membership
    return classes, theme_ids, proba, membership


def _fit_fold(pipeline, inputs, themes, train, test, config, weights=None):
    _fit(pipeline, inputs.iloc[train], [themes[i] for i in train], config,
         None if weights is None else weights[train])
    features = pipeline.named_steps["features"].transform(inputs.iloc[test])
    clf = pipeline.named_steps["clf"]
    return (clf.predict_proba(features), clf.membership_proba(features), list(clf.classes_),
            list(clf.themes_))


def _splitter(config: TrainConfig, groups):
    if groups is not None:
        return StratifiedGroupKFold(n_splits=config.cv.folds, shuffle=True,
                                    random_state=config.seed)
    return StratifiedKFold(n_splits=config.cv.folds, shuffle=True, random_state=config.seed)


def _metrics(themes, primary, sets, proba, classes, seed) -> dict:
    from policy_themes.evaluation.metrics import compute_metrics

    return compute_metrics(themes, primary, sets, proba, classes, n_boot=200, seed=seed)


def _fingerprint(texts: Sequence[str], themes: Sequence[Sequence[str]]) -> str:
    digest = hashlib.sha256()
    for text, row in zip(texts, themes):
        digest.update(text.encode("utf-8"))
        digest.update(b"\x1f")
        digest.update(";".join(row).encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def report_progress(progress: ProgressCallback | None, stage: str, done: int, total: int
                    ) -> None:
    """Tell ``progress`` (when given) that ``stage`` has done ``done`` of ``total``."""
    if progress is not None:
        progress(stage, done, total)


def train(
    data: Sequence[str | Path] | None = None,
    *,
    config: str | Path | TrainConfig | None = None,
    taxonomy: str | Path | Taxonomy | None = None,
    model_dir: str | Path | None = None,
    weak: bool = False,
    text_column: str = "text",
    label_column: str | None = None,
    documents: bool = False,
    doc_column: str | None = None,
    encoding: str | None = None,
    n_jobs: int = 1,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train a theme model from files and, when ``model_dir`` is given, save it.

    Parameters
    ----------
    data : sequence of str or Path, default=None
        Labeled tables; None uses the shipped data (``DEFAULT_DATA``: the invented sentences
        of ``data/labeled/sentences.csv`` and the real ones of ``ungdc.csv``). With ``weak=True``,
        unlabeled documents or tables.
    config : str, Path or TrainConfig, default=None
        Training config; None uses the shipped ``configs/train.yaml``.
    taxonomy : str, Path or Taxonomy, default=None
        Taxonomy; None uses the shipped default.
    model_dir : str or Path, default=None
        Where to save the model directory (replaced atomically); None saves nothing. It is
        locked for the whole run: a second run into the same directory is refused at once.
    weak : bool, default=False
        Train on the rules' labels of unlabeled input.
    text_column : str, default="text"
        Text column of tables.
    label_column : str, default=None
        Label column of labeled tables; None looks for ``themes``, then ``theme``.
    documents : bool, default=False
        With ``weak``: table rows are documents to split into sentences.
    doc_column : str, default=None
        Column naming each sentence's document (the context's neighbours, and the groups of
        cross-validation); None takes the first of the config's ``context.document_columns``
        present (:func:`find_document_column`). A table without one is
        read sentence by sentence.
    encoding : str, default=None
        Input encoding.
    n_jobs : int, default=1
        Parallel cross-validation folds.
    progress : callable, default=None
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    TrainResult
        With ``findings``: rows skipped for blank text, duplicate rows and texts labeled with
        different themes (training goes on with every row as labeled).

    Raises
    ------
    DataError
        If the data is missing, malformed, has bad labels or no text.
    ModelError
        If ``model_dir`` cannot be written or another run holds its lock.

    Examples
    --------
    >>> result = train(model_dir="models/default")          # doctest: +SKIP
    >>> result.cv_metrics["accuracy"]                        # doctest: +SKIP
    """
    taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    config = config if isinstance(config, TrainConfig) else load_train_config(config)
    with contextlib.ExitStack() as stack:
        if model_dir is not None:
            from policy_themes.io.decoding import check_text
            from policy_themes.model.store import check_model_dir, model_lock

            # its name goes into the model's report and metadata, which are UTF-8 text
            check_text(str(model_dir), f"model directory {model_dir}")
            check_model_dir(model_dir)
            # held from the start: a second run into the same directory is refused at once
            stack.enter_context(model_lock(Path(model_dir)))
        paths = [Path(p) for p in data] if data else list(DEFAULT_DATA)
        report_progress(progress, "reading data", 0, 1)
        rows = read_rows(paths, taxonomy, config, weak=weak, text_column=text_column,
                         label_column=label_column, documents=documents,
                         doc_column=doc_column, encoding=encoding)
        report_progress(progress, "reading data", 1, 1)
        frame, findings, groups = rows.frame, rows.findings, rows.groups
        result = train_model(frame["text"].tolist(), frame["themes"].tolist(), config=config,
                             taxonomy=taxonomy, groups=groups, context=rows.context,
                             sample_weight=rows.weights, measured=rows.measured,
                             n_jobs=n_jobs, progress=progress)
        result.data_files = [str(p) for p in paths]
        result.weak = weak
        result.findings = findings
        if model_dir is not None:
            from policy_themes.workflows.saving import save_trained

            try:
                save_trained(result, model_dir)
            except OSError as exc:  # a full disk: the earlier model is left as it was
                raise ModelError(f"{model_dir}: cannot write the model "
                                 f"({exc.strerror or exc}); the folder is as it was") from None
    return result

