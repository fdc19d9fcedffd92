"""The audit's cross-validation: out-of-fold probabilities made to judge labels.

:func:`audit_out_of_fold` is what :func:`policy_themes.workflows.audit.audit_labels` ranks
rows by. It differs from the cross-validation ``train`` runs to measure a model
(:func:`policy_themes.workflows.training.out_of_fold_proba`) in four ways, each measured in
``benchmarks/results/audit.md``: folds not grouped by document, two cross-validations averaged
(the second without character n-grams), the feature blocks fitted once, and heads stopped
after a few solver passes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from policy_themes.errors import ConfigError

__all__ = ["audit_out_of_fold", "AUDIT_FOLDS", "AUDIT_REPEATS", "AUDIT_MAX_ITER", "AUDIT_VIEWS"]

#: The audit's cross-validation: folds, and cross-validations averaged (see
#: :func:`audit_out_of_fold`).
AUDIT_FOLDS = 5
AUDIT_REPEATS = 2
#: The most solver passes each head of the audit's folds makes (LIBLINEAR's own stopping rule
#: takes about 16 on the shipped data): the ranking found as many flipped labels with 4, 5 or
#: 8 as with 16, in less time (``benchmarks/results/audit.md``).
AUDIT_MAX_ITER = 5
#: The feature blocks each of the audit's cross-validations leaves out, in turn: the second
#: judges the rows without character n-grams, a view that errs differently from the first
#: (two such runs find as many flipped labels as two with every block, at two thirds the cost).
AUDIT_VIEWS = ((), ("char",))


def audit_out_of_fold(
    texts: Sequence[str],
    themes: Sequence[Sequence[str]],
    *,
    config,
    taxonomy,
    context: Sequence[str] | None = None,
    sample_weight: Sequence[float] | None = None,
    folds: int = AUDIT_FOLDS,
    repeats: int = AUDIT_REPEATS,
    n_jobs: int = 1,
    progress=None,
):
    """Primary-theme probabilities of every row from models that did not see its label.

    The audit's own cross-validation, with the model's features, parameters and data weights
    (``config``), made to judge labels rather than to measure the model:

    - folds are stratified by primary label but not grouped by document: a row's label is
      judged by models that know the other labels of its document (the same speech's themes
      are evidence), which finds more flipped labels than folds grouped by document
      (``benchmarks/results/audit.md``);
    - the cross-validation runs ``repeats`` times, each with other folds (seed
      ``config.seed + r``) and leaving out the feature blocks of :data:`AUDIT_VIEWS` in turn
      (the second without character n-grams), and each row's probabilities are averaged over
      its ``repeats`` out-of-fold models;
    - the feature blocks (TF-IDF vocabulary and weights, which read no label) are fitted once
      on every row, and only the primary head is fitted per fold, stopped after
      :data:`AUDIT_MAX_ITER` solver passes.

    Parameters
    ----------
    texts, themes, config, taxonomy, context, sample_weight
        As for :func:`~policy_themes.workflows.training.out_of_fold_proba`.
    folds : int, default=AUDIT_FOLDS
        Folds of each cross-validation (2 or more).
    repeats : int, default=AUDIT_REPEATS
        Cross-validations averaged.
    n_jobs : int, default=1
        Folds fitted at once, in worker processes.
    progress : callable, default=None
        Called as ``progress("cross-validation", done, total)``.

    Returns
    -------
    OutOfFold

    Raises
    ------
    DataError
        If there are too few rows or themes for the folds.
    ConfigError
        If a parameter of the config is invalid.
    """
    from joblib import Parallel, delayed
    from sklearn.base import clone

    from policy_themes.parallel.pool import resolve_jobs
    from policy_themes.workflows.training import (
        OutOfFold,
        check_training_data,
        config_errors,
        report_progress,
    )

    if folds < 2 or repeats < 1:
        raise ConfigError(f"the audit needs 2 or more folds and 1 or more repeats, got "
                          f"{folds} folds, {repeats} repeats")
    texts, themes = [str(t) for t in texts], [list(t) for t in themes]
    config = config.with_overrides(folds=folds)
    check_training_data(texts, themes, config)
    classes = [str(c) for c in taxonomy.ids]
    head, train_x, test_x, blocks = _audit_features(texts, context, config, taxonomy)
    primary = np.array([t[0] for t in themes], dtype=object)
    weights = np.ones(len(texts)) if sample_weight is None else \
        np.asarray(sample_weight, dtype=float)
    fits = []
    for columns, splits in _audit_runs(blocks, primary, folds, repeats, config.seed):
        fit_x, score_x = (train_x, test_x) if columns is None else \
            (train_x[:, columns], test_x[:, columns])
        fits += [delayed(_fit_audit_fold)(clone(head), fit_x, score_x, primary, weights, train,
                                          test, classes) for train, test in splits]
    proba = np.zeros((len(texts), len(classes)))
    report_progress(progress, "cross-validation", 0, len(fits))
    # processes, not threads: LIBLINEAR draws its coordinate order from the C library's one
    # random generator, which threads would share (results would change from run to run)
    parallel = Parallel(n_jobs=min(resolve_jobs(n_jobs), len(fits)), return_as="generator")
    with config_errors(config):
        for done, (test, fold_proba) in enumerate(parallel(fits), start=1):
            proba[test] += fold_proba / repeats
            report_progress(progress, "cross-validation", done, len(fits))
    return OutOfFold(classes, proba, folds)


def _audit_features(texts, context, config, taxonomy):
    """The unfitted primary head (at most ``AUDIT_MAX_ITER`` passes), the feature matrices to
    fit on (context dropped as training drops it) and to score, and each feature block's
    columns: the feature blocks fitted once, on every row."""
    from policy_themes.model.classifier import build_pipeline
    from policy_themes.model.one_vs_rest import OneVsRestLogistic
    from policy_themes.workflows.training import config_errors, fitting_inputs, model_inputs

    config, inputs = model_inputs(texts, context, config)
    pipeline = build_pipeline(config, taxonomy)
    with config_errors(config):
        head = pipeline.named_steps["clf"].primary_head()
        if isinstance(head, OneVsRestLogistic):
            head.set_params(max_iter=min(head.max_iter, AUDIT_MAX_ITER))
        fitting = fitting_inputs(inputs, config)
        features = pipeline.named_steps["features"]
        train_x = sp.csr_matrix(features.fit_transform(fitting))  # dense with embeddings only
        test_x = train_x if fitting is inputs else sp.csr_matrix(features.transform(inputs))
    return head, train_x, test_x, features.output_indices_


def _audit_runs(blocks: dict, primary: np.ndarray, folds: int, repeats: int, seed: int):
    """Each cross-validation's feature columns (None: all) and (train, test) splits: the
    ``r``-th leaves out the blocks of ``AUDIT_VIEWS[r % len(AUDIT_VIEWS)]`` (unless that
    leaves none) and splits with seed ``seed + r``."""
    from sklearn.model_selection import StratifiedKFold

    n_columns = max(block.stop for block in blocks.values())
    for r in range(repeats):
        left_out = [blocks[name] for name in AUDIT_VIEWS[r % len(AUDIT_VIEWS)]
                    if name in blocks]
        keep = np.ones(n_columns, dtype=bool)
        for block in left_out:
            keep[block] = False
        columns = None if keep.all() or not keep.any() else np.flatnonzero(keep)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed + r)
        yield columns, list(splitter.split(primary, primary))


def _fit_audit_fold(head, train_x, test_x, primary, weights, train, test, classes):
    """Fit ``head`` on the ``train`` rows; the ``test`` rows' probabilities over ``classes``."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # AUDIT_MAX_ITER stops it early
        head.fit(train_x[train], primary[train], sample_weight=weights[train])
    proba = np.zeros((len(test), len(classes)))
    proba[:, [classes.index(c) for c in head.classes_]] = head.predict_proba(test_x[test])
    return test, proba
