"""From scores to themes: the arithmetic both model forms share.

The scikit-learn pipeline (:mod:`policy_themes.model.classifier`), the streaming classifier
(:mod:`policy_themes.model.streaming`) and the array form (:mod:`policy_themes.model.arrays`)
turn their linear scores into probabilities and theme sets with these functions, so they
decide alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from policy_themes.config import ThresholdConfig
from policy_themes.rules.taxonomy import NO_THEME, THEME_SEP

if TYPE_CHECKING:
    import scipy.sparse as sp  # noqa: F401

__all__ = ["choose_thresholds", "decide_themes", "decide_theme_cells", "set_members",
           "SetMembers", "softmax", "expit", "one_vs_rest_proba", "stack_heads",
           "stacked_membership_proba", "linear_scores", "membership_from_decision"]


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, in place, computed as scikit-learn's ``extmath.softmax``."""
    scores -= np.max(scores, axis=1).reshape((-1, 1))
    np.exp(scores, scores)
    scores /= np.sum(scores, axis=1).reshape((-1, 1))
    return scores


def expit(values: np.ndarray) -> np.ndarray:
    """The logistic function (``scipy.special.expit``)."""
    from scipy.special import expit as _expit

    return _expit(values)


def one_vs_rest_proba(decision: np.ndarray) -> np.ndarray:
    """Class probabilities of one-vs-rest logistic heads: each head's probability, the row
    normalised to sum to 1 (a row whose heads all give 0 is uniform), as scikit-learn's
    ``LinearClassifierMixin._predict_proba_lr``; one column of scores is a binary head."""
    decision = np.asarray(decision, dtype=float)
    if decision.ndim == 1 or decision.shape[1] == 1:
        positive = expit(decision.reshape(-1))
        return np.column_stack([1 - positive, positive])
    proba = expit(decision)
    total = proba.sum(axis=1)
    zero = total == 0
    if zero.any():
        proba[zero, :] = 1
        total[zero] = proba.shape[1]
    proba /= total.reshape((-1, 1))
    return proba


def decide_themes(proba: np.ndarray, membership: np.ndarray, classes: list[str],
                  themes: list[str], thresholds: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Turn probabilities into primary themes and theme sets.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
        Primary-theme probabilities over ``classes``.
    membership : ndarray of shape (n, n_themes)
        Membership probabilities over ``themes`` (``none`` excluded).
    classes, themes : list of str
        Column ids of ``proba`` and ``membership``.
    thresholds : ndarray of shape (n_themes,)
        Membership thresholds.

    Returns
    -------
    primary : list of str
    theme_sets : list of list of str
        Primary first, then the other themes over their thresholds by decreasing probability;
        ``["none"]`` when the primary is ``none``.
    """
    primary_idx = np.argmax(proba, axis=1)
    # taken from an object array: a loop over primary_idx would make a NumPy integer per row
    primary = np.array(classes, dtype=object)[primary_idx].tolist()
    sets = [[first] for first in primary]
    for i, more in zip(*_extra_themes(membership, classes, themes, thresholds, primary_idx)):
        sets[i] += more
    return primary, sets


def decide_theme_cells(proba: np.ndarray, membership: np.ndarray, classes: list[str],
                       themes: list[str], thresholds: np.ndarray):
    """:func:`decide_themes` as two columns of a table, pandas' string arrays
    (:func:`~.data.string_array`): each row's primary theme, and its theme set as text (ids
    joined by ``;``). Made by Arrow from the names of the classes, with Python strings only
    for the rows that have more than one theme (from pandas 3 on)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from policy_themes.io.sentence_frames import string_array

    primary_idx = np.argmax(proba, axis=1)
    primary = pa.array(classes, type=pa.large_string()).take(primary_idx)
    rows, extras = _extra_themes(membership, classes, themes, thresholds, primary_idx)
    text = primary
    if rows:
        mask = np.zeros(len(primary_idx), dtype=bool)
        mask[rows] = True
        joined = [THEME_SEP.join([classes[primary_idx[i]], *more])
                  for i, more in zip(rows, extras)]
        text = pc.replace_with_mask(primary, pa.array(mask),
                                    pa.array(joined, type=pa.large_string()))
    return string_array(primary), string_array(text)


@dataclass(frozen=True)
class SetMembers:
    """Each row's theme set with the members' membership probabilities, as flat arrays.

    ``primary_idx`` and ``primary_probability``: each row's primary class and its membership
    probability (for ``none``, which has none, its probability as the primary class). The
    other members, row after row and by decreasing probability: ``extra_rows`` (the row of
    each), ``extra_themes`` (its column of the membership probabilities) and
    ``extra_probabilities``.
    """

    primary_idx: np.ndarray
    primary_probability: np.ndarray
    extra_rows: np.ndarray
    extra_themes: np.ndarray
    extra_probabilities: np.ndarray


def set_members(proba: np.ndarray, membership: np.ndarray, classes: list[str],
                themes: list[str], thresholds: np.ndarray) -> SetMembers:
    """The theme sets of :func:`decide_themes` with each member's membership probability,
    made with array operations (no Python object per row).

    Parameters are those of :func:`decide_themes`.
    """
    primary_idx = np.argmax(proba, axis=1)
    column = _primary_columns(classes, themes, primary_idx)
    rows = np.arange(len(primary_idx))
    has_column = column >= 0
    probability = proba[rows, primary_idx]
    probability[has_column] = membership[rows[has_column], column[has_column]]
    over = _others_over(membership, classes, thresholds, primary_idx, column)
    extra = np.flatnonzero(over.any(axis=1)) if over.size else np.zeros(0, dtype=np.int64)
    order = np.argsort(-membership[extra], axis=1, kind="stable")
    kept = np.take_along_axis(over[extra], order, axis=1)
    values = np.take_along_axis(membership[extra], order, axis=1)
    return SetMembers(primary_idx, probability, np.repeat(extra, kept.sum(axis=1)),
                      order[kept], values[kept])


def _others_over(membership: np.ndarray, classes: list[str], thresholds: np.ndarray,
                 primary_idx: np.ndarray, primary_column: np.ndarray) -> np.ndarray:
    """Which themes other than each row's primary clear their thresholds (none for a row
    whose primary is ``none``)."""
    over = membership >= thresholds[None, :]
    if over.size:
        over[np.flatnonzero(primary_column >= 0), primary_column[primary_column >= 0]] = False
        if NO_THEME in classes:  # a sentence about nothing has no other theme
            over[primary_idx == classes.index(NO_THEME)] = False
    return over


def _primary_columns(classes: list[str], themes: list[str], primary_idx: np.ndarray
                     ) -> np.ndarray:
    """Each row's primary class as a column of the membership probabilities (-1: none)."""
    theme_column = {t: j for j, t in enumerate(themes)}
    if not len(primary_idx):
        return np.zeros(0, dtype=np.int64)
    return np.array([theme_column.get(c, -1) for c in classes])[primary_idx]


def _extra_themes(membership: np.ndarray, classes: list[str], themes: list[str],
                  thresholds: np.ndarray, primary_idx: np.ndarray
                  ) -> tuple[list[int], list[list[str]]]:
    """The rows that have themes other than their primary over their thresholds, with those
    themes by decreasing probability."""
    primary_column = _primary_columns(classes, themes, primary_idx)
    over = _others_over(membership, classes, thresholds, primary_idx, primary_column)
    rows = np.flatnonzero(over.any(axis=1)) if over.size else np.zeros(0, dtype=np.int64)
    # the other themes over their thresholds, by decreasing probability (one sort for all rows)
    order = np.argsort(-membership[rows], axis=1, kind="stable")
    kept = np.take_along_axis(over[rows], order, axis=1)
    names = np.array(themes, dtype=object)[order]
    extras = [row_names[row_kept].tolist() for row_names, row_kept in zip(names, kept)]
    return rows.tolist(), extras


def stack_heads(membership: list, width: int) -> dict:
    """The binary membership heads as one weight matrix, so that one product scores them all.

    Parameters
    ----------
    membership : list
        Per theme, a fitted binary linear classifier (``coef_``, ``intercept_``) or a float (the
        constant rate of a theme that never or always occurs).
    width : int
        Number of features.

    Returns
    -------
    dict
        ``columns`` (the themes with a head), ``coef`` (width × heads), ``intercept`` and
        ``constants`` (``[column, rate]`` pairs).
    """
    heads = [(j, h) for j, h in enumerate(membership) if not isinstance(h, float)]
    return {
        "columns": [j for j, _ in heads],
        "coef": (np.column_stack([h.coef_[0] for _, h in heads]) if heads
                 else np.zeros((width, 0))),
        "intercept": np.array([h.intercept_[0] for _, h in heads]),
        "constants": [[j, h] for j, h in enumerate(membership) if isinstance(h, float)],
    }


def linear_scores(X, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``X @ coef + intercept`` as float64, computed in the precision of ``coef``: float32
    weights (streaming models) take float32 features rather than being copied to float64 for
    every batch."""
    import scipy.sparse as sp

    if coef.dtype == np.float32 and X.dtype != np.float32:
        # not X.astype: SciPy's sorts each row's columns, which changes the order of the sums
        if sp.issparse(X):
            X = X.tocsr()
            X = sp.csr_matrix((X.data.astype(np.float32), X.indices, X.indptr), shape=X.shape)
        else:
            X = np.asarray(X, dtype=np.float32)
    return np.asarray(X @ coef + intercept, dtype=np.float64)


def stacked_membership_proba(X, n_themes: int, columns: list[int], coef: np.ndarray,
                             intercept: np.ndarray, constants: list) -> np.ndarray:
    """Membership probabilities from :func:`stack_heads`: the logistic function of each head's
    decision, the same numbers as the heads' own ``predict_proba(X)[:, 1]``."""
    decision = linear_scores(X, coef, intercept) if columns else None
    return membership_from_decision(decision, X.shape[0], n_themes, columns, constants)


def membership_from_decision(decision: np.ndarray | None, n_rows: int, n_themes: int,
                              columns: list[int], constants: list) -> np.ndarray:
    proba = np.empty((n_rows, n_themes))
    if columns:
        proba[:, columns] = expit(decision)
    for column, value in constants:
        proba[:, column] = value
    return proba


def choose_thresholds(membership: np.ndarray, themes: Sequence[Sequence[str]],
                      theme_ids: Sequence[str], settings: ThresholdConfig) -> dict[str, float]:
    """Choose each theme's membership threshold to maximise its F1 on held-out probabilities.

    Parameters
    ----------
    membership : ndarray of shape (n, n_themes)
        Out-of-fold membership probabilities.
    themes : sequence of sequence of str
        Gold theme lists.
    theme_ids : sequence of str
        Column ids of ``membership``.
    settings : ThresholdConfig
        Search range and the fallback for themes without positives.

    Returns
    -------
    dict of str to float
    """
    grid = np.round(np.arange(settings.minimum, settings.maximum + 1e-9, 0.05), 2)
    chosen = {}
    for j, theme in enumerate(theme_ids):
        truth = np.array([theme in t for t in themes])
        if not truth.any():
            chosen[theme] = settings.default
            continue
        scores = [_f1(truth, membership[:, j] >= g) for g in grid]
        chosen[theme] = float(grid[int(np.argmax(scores))])
    return chosen


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    tp = np.sum(truth & predicted)
    return 2 * tp / max(truth.sum() + predicted.sum(), 1)
