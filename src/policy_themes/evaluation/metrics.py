"""Accuracy figures of theme predictions against gold labels.

The module works on plain predictions (lists of theme ids and a probability matrix), never on a
model, so any predictor, the rules or a baseline can be scored the same way.
:func:`compute_metrics` returns a JSON-ready dict.
"""


from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import MultiLabelBinarizer

from policy_themes.errors import ConfigError, DataError
from policy_themes.rules.taxonomy import NO_THEME

__all__ = ["compute_metrics", "majority_baseline", "headline_metrics", "HEADLINE_KEYS"]

TOP_K = 3
N_BINS = 10
MAX_CONFUSIONS = 10
MAX_EXAMPLES = 3
_PROBA_ATOL = 1e-3


# ---------------------------------------------------------------------------------------------
# metrics


def compute_metrics(gold, primary, themes, proba, classes, *, n_boot=1000, seed=0) -> dict:
    """Compute accuracy figures of primary-theme and theme-set predictions.

    Parameters
    ----------
    gold : sequence of sequence of str
        Gold theme ids per sentence, primary first; ``["none"]`` (or an empty list) means no theme.
    primary : sequence of str
        Predicted primary theme per sentence (may be ``"none"``).
    themes : sequence of sequence of str
        Predicted theme set per sentence, primary first; ``["none"]`` (or empty) for no theme.
    proba : ndarray of shape (n, len(classes)) or None
        Predicted probability that each class is the primary theme; rows sum to 1. When None,
        top-3 accuracy and the calibration figures are NaN.
    classes : sequence of str
        Class ids, the columns of ``proba``; includes ``"none"``. Sets the order of labels.
    n_boot : int, default=1000
        Bootstrap resamples for the 95 % intervals; 0 leaves the intervals NaN.
    seed : int, default=0
        Seed of the bootstrap's numpy Generator.

    Returns
    -------
    dict
        JSON-ready figures: ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``per_theme``,
        ``top3_accuracy``, ``set_micro_f1``, ``set_macro_f1``, ``subset_accuracy``,
        ``hamming_loss``, ``brier``, ``ece``, ``accuracy_ci``, ``macro_f1_ci``,
        ``set_micro_f1_ci``, ``confusions`` and
        ``confusion_matrix``. Undefined figures are NaN (``None`` in :meth:`EvalReport.to_json`).

    Raises
    ------
    DataError
        If the inputs disagree in length, are empty, or ``proba`` has the wrong shape or rows
        that are not probabilities.
    ConfigError
        If ``n_boot`` is negative.

    Notes
    -----
    Primary-theme F1 figures use the labels present in gold or predictions (scikit-learn's
    ``f1_score`` with ``zero_division=0``). Theme-set figures use every class but ``none`` as the
    label space (plus any theme that appears in the data but not in ``classes``); an empty row
    means no theme. Calibration looks at the most probable class of each ``proba`` row, which may
    differ from ``primary`` when the predictor applies a threshold for ``none``.

    Examples
    --------
    >>> m = compute_metrics([["a"], ["b"]], ["a", "a"], [["a"], ["a"]], None, ["a", "b", "none"],
    ...                     n_boot=0)
    >>> m["accuracy"], m["subset_accuracy"]
    (0.5, 0.5)
    """
    gold_lists = _theme_lists(gold, "gold")
    pred_lists = _theme_lists(themes, "themes")
    primary = [str(p) for p in primary]
    classes = _check_classes(classes)
    _check_lengths(gold_lists, primary, pred_lists)
    n_boot = _check_n_boot(n_boot)
    proba = _check_proba(proba, len(primary), classes)

    gold_primary = [g[0] if g else NO_THEME for g in gold_lists]
    labels = _ordered_labels(classes, gold_primary, primary)
    metrics: dict = {"n": len(primary)}
    metrics.update(_primary_metrics(gold_primary, primary, labels))
    metrics["per_theme"] = _per_theme(gold_primary, primary, classes, labels)
    metrics["top3_accuracy"] = _top_k_accuracy(gold_primary, proba, classes, TOP_K)
    metrics.update(_set_metrics(gold_lists, pred_lists, classes))
    metrics["brier"] = _brier(gold_primary, proba, classes)
    metrics["ece"] = _ece(gold_primary, proba, classes, N_BINS)
    metrics.update(_bootstrap(gold_primary, primary, labels, n_boot=n_boot, seed=seed,
                              set_counts=_set_counts(gold_lists, pred_lists)))
    metrics["confusions"] = _confusions(gold_primary, primary)
    metrics["set_errors"] = _set_errors(gold_lists, pred_lists)
    metrics["confusion_matrix"] = _confusion_matrix(gold_primary, primary, labels)
    return metrics


def majority_baseline(train_primary: list[str], n: int, classes) -> tuple:
    """Predict the most frequent training primary theme for every sentence.

    Parameters
    ----------
    train_primary : list of str
        Primary theme of each training sentence.
    n : int
        Number of sentences to predict.
    classes : sequence of str
        Class ids, the columns of the returned probabilities.

    Returns
    -------
    primary : list of str
        The majority theme, ``n`` times (ties go to the class that comes first in ``classes``).
    themes : list of list of str
        ``[majority]`` for every sentence.
    proba : ndarray of shape (n, len(classes))
        One-hot rows on the majority theme.

    Raises
    ------
    DataError
        If ``train_primary`` is empty or its majority theme is not one of ``classes``.

    Examples
    --------
    >>> primary, themes, proba = majority_baseline(["a", "b", "b"], 2, ["a", "b"])
    >>> primary, themes, proba.tolist()
    (['b', 'b'], [['b'], ['b']], [[0.0, 1.0], [0.0, 1.0]])
    """
    classes = _check_classes(classes)
    counts = Counter(str(t) for t in train_primary)
    if not counts:
        raise DataError("majority baseline: no training labels given")
    top = max(counts.values())
    order = {c: i for i, c in enumerate(classes)}
    tied = [t for t, c in counts.items() if c == top]
    majority = min(tied, key=lambda t: order.get(t, len(order)))
    if majority not in order:
        raise DataError(
            f"majority baseline: the most frequent training theme {majority!r} is not one of the "
            f"classes ({', '.join(classes)})"
        )
    proba = np.zeros((n, len(classes)))
    proba[:, order[majority]] = 1.0
    return [majority] * n, [[majority] for _ in range(n)], proba


def _theme_lists(values, name: str) -> list[list[str]]:
    """Theme lists as lists of str; a bare string is refused (it would iterate by character)."""
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            raise DataError(
                f"{name}[{i}] is the string {value!r}, not a list of theme ids; split "
                "';'-joined cells first (policy_themes.io.labels.parse_themes)"
            )
        out.append([str(t) for t in value])
    return out


def _check_classes(classes) -> list[str]:
    """Class ids as a list of str, without duplicates."""
    classes = [str(c) for c in classes]
    duplicates = sorted(c for c, k in Counter(classes).items() if k > 1)
    if duplicates:
        raise DataError(f"classes repeat {', '.join(duplicates)}; each class id must appear once")
    return classes


def _check_lengths(gold: list, primary: list, themes: list) -> None:
    """Refuse empty inputs and inputs of different lengths."""
    if not (len(gold) == len(primary) == len(themes)):
        raise DataError(
            f"predictions do not match the gold labels: gold has {len(gold)} sentences, "
            f"primary {len(primary)}, themes {len(themes)}"
        )
    if not gold:
        raise DataError("no sentences to evaluate: gold labels are empty")


def _check_n_boot(n_boot) -> int:
    """The number of bootstrap resamples, a non-negative int."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ConfigError(f"n_boot must be an integer >= 0, got {n_boot!r}")
    return int(n_boot)


def _check_proba(proba, n: int, classes: list[str]) -> np.ndarray | None:
    """The probability matrix as floats, checked for shape, range and row sums."""
    if proba is None:
        return None
    proba = np.asarray(proba, dtype=float)
    if proba.shape != (n, len(classes)):
        raise DataError(
            f"proba must have shape (sentences, classes) = ({n}, {len(classes)}), "
            f"got {proba.shape}"
        )
    if not np.all(np.isfinite(proba)) or np.any(proba < 0):
        raise DataError("proba holds negative, NaN or infinite values; expected probabilities")
    sums = proba.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _PROBA_ATOL)
    if bad.size:
        raise DataError(
            f"proba rows must sum to 1 (probabilities of the primary theme); row {bad[0]} sums "
            f"to {sums[bad[0]]:.4f} ({bad.size} rows in all)"
        )
    return proba


def _ordered_labels(classes: list[str], *label_lists: Sequence[str]) -> list[str]:
    """Labels found in the lists, in ``classes`` order, then unknown ones in order of appearance."""
    seen: dict[str, None] = {}
    for labels in label_lists:
        seen.update(dict.fromkeys(labels))
    known = [c for c in classes if c in seen]
    return known + [t for t in seen if t not in set(classes)]


def _primary_metrics(gold: list[str], pred: list[str], labels: list[str]) -> dict:
    """Accuracy, macro-F1 and weighted F1 of the primary theme."""
    return {
        "accuracy": float(np.mean(np.array(gold) == np.array(pred))),
        "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(
            f1_score(gold, pred, labels=labels, average="weighted", zero_division=0)
        ),
    }


def _per_theme(gold: list[str], pred: list[str], classes: list[str], labels: list[str]) -> list:
    """Precision, recall, F1, support and predicted count of every class, as the primary theme.

    A figure with a zero denominator (a theme never predicted, or absent from gold) is NaN rather
    than 0, so it does not pass for a failure.
    """
    rows = classes + [t for t in labels if t not in set(classes)]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, pred, labels=rows, average=None, zero_division=np.nan
    )
    predicted = Counter(pred)
    return [
        {
            "theme": theme,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "predicted": int(predicted[theme]),
        }
        for i, theme in enumerate(rows)
    ]


def _top_k_accuracy(gold: list[str], proba, classes: list[str], k: int) -> float:
    """Share of sentences whose gold primary is among the ``k`` most probable classes."""
    if proba is None:
        return math.nan
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    index = {c: i for i, c in enumerate(classes)}
    gold_idx = np.array([index.get(g, -1) for g in gold])
    return float(np.mean((top == gold_idx[:, None]).any(axis=1)))


def _set_metrics(gold: list[list[str]], pred: list[list[str]], classes: list[str]) -> dict:
    """Micro- and macro-F1, exact match and Hamming loss of theme sets, ``none`` left out."""
    gold_sets = [set(g) - {NO_THEME} for g in gold]
    pred_sets = [set(p) - {NO_THEME} for p in pred]
    space = [t for t in _ordered_labels(classes, classes, *gold, *pred) if t != NO_THEME]
    subset = float(np.mean([g == p for g, p in zip(gold_sets, pred_sets)]))
    if not space:
        return {"set_micro_f1": math.nan, "set_macro_f1": math.nan,
                "subset_accuracy": subset, "hamming_loss": 0.0}
    y_true, y_pred = _binarize(gold_sets, space), _binarize(pred_sets, space)
    active = np.flatnonzero(y_true.any(axis=0) | y_pred.any(axis=0))
    if active.size == 0:  # no sentence has a theme, in gold or predicted
        micro = macro = math.nan
    else:
        micro = float(f1_score(y_true, y_pred, average="micro", zero_division=0))
        macro = float(f1_score(y_true[:, active], y_pred[:, active], average="macro",
                               zero_division=0))
    return {
        "set_micro_f1": micro,
        "set_macro_f1": macro,
        "subset_accuracy": subset,
        "hamming_loss": float(hamming_loss(y_true, y_pred)),
    }


def _binarize(sets: list[set[str]], space: list[str]) -> np.ndarray:
    """An indicator matrix (sentences x themes) of theme sets."""
    return MultiLabelBinarizer(classes=space).fit_transform(sets)


def _onehot(gold: list[str], classes: list[str]) -> np.ndarray:
    """One-hot rows of the gold primary over ``classes`` (all zero for an unknown theme)."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(gold), len(classes)))
    for i, theme in enumerate(gold):
        if theme in index:
            matrix[i, index[theme]] = 1.0
    return matrix


def _brier(gold: list[str], proba, classes: list[str]) -> float:
    """Multi-class Brier score: mean over rows of the summed squared error (0 best, 2 worst)."""
    if proba is None:
        return math.nan
    return float(np.mean(np.sum((proba - _onehot(gold, classes)) ** 2, axis=1)))


def _ece(gold: list[str], proba, classes: list[str], n_bins: int) -> float:
    """Expected calibration error of the top probability, in equal-width bins ``(a, b]``."""
    if proba is None:
        return math.nan
    confidence = proba.max(axis=1)
    predicted = np.array(classes)[proba.argmax(axis=1)]
    correct = (predicted == np.array(gold)).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidence, side="left")
    total = 0.0
    for b in np.unique(bins):
        members = bins == b
        total += members.sum() * abs(correct[members].mean() - confidence[members].mean())
    return float(total / len(gold))


def _set_counts(gold: list[list[str]], pred: list[list[str]]) -> np.ndarray:
    """Per sentence: themes right, gold themes and predicted themes (``none`` left out)."""
    rows = []
    for g, p in zip(gold, pred):
        g_set, p_set = set(g) - {NO_THEME}, set(p) - {NO_THEME}
        rows.append((len(g_set & p_set), len(g_set), len(p_set)))
    return np.array(rows, dtype=float).reshape(-1, 3)


def _bootstrap(gold: list[str], pred: list[str], labels: list[str], *, n_boot: int,
               seed: int, set_counts: np.ndarray | None = None) -> dict:
    """95 % percentile bootstrap intervals of accuracy, macro-F1 and theme-set micro-F1."""
    if n_boot == 0:
        return {"accuracy_ci": [math.nan, math.nan], "macro_f1_ci": [math.nan, math.nan],
                "set_micro_f1_ci": [math.nan, math.nan]}
    index = {t: i for i, t in enumerate(labels)}
    gold_idx = np.array([index[g] for g in gold])
    pred_idx = np.array([index[p] for p in pred])
    rng = np.random.default_rng(seed)
    n = len(gold_idx)
    accuracy = np.empty(n_boot)
    macro = np.empty(n_boot)
    micro = np.full(n_boot, np.nan)
    for b in range(n_boot):
        sample = rng.integers(0, n, size=n)
        accuracy[b], macro[b] = _accuracy_macro_f1(gold_idx[sample], pred_idx[sample], len(labels))
        if set_counts is not None:
            tp, n_gold, n_pred = set_counts[sample].sum(axis=0)
            micro[b] = 2 * tp / (n_gold + n_pred) if n_gold + n_pred else np.nan
    micro = micro[~np.isnan(micro)]
    return {
        "accuracy_ci": [float(v) for v in np.percentile(accuracy, [2.5, 97.5])],
        "macro_f1_ci": [float(v) for v in np.percentile(macro, [2.5, 97.5])],
        "set_micro_f1_ci": ([float(v) for v in np.percentile(micro, [2.5, 97.5])]
                            if micro.size else [math.nan, math.nan]),
    }


def _accuracy_macro_f1(gold: np.ndarray, pred: np.ndarray, n_labels: int) -> tuple[float, float]:
    """Accuracy and macro-F1 of integer labels (F1 over labels present), like sklearn, but fast."""
    hit = gold == pred
    tp = np.bincount(gold[hit], minlength=n_labels)
    denominator = np.bincount(gold, minlength=n_labels) + np.bincount(pred, minlength=n_labels)
    present = denominator > 0
    return float(hit.mean()), float(np.mean(2 * tp[present] / denominator[present]))


def _confusions(gold: list[str], pred: list[str]) -> list[dict]:
    """The most frequent (gold, predicted) error pairs with the first example indices."""
    examples: dict[tuple[str, str], list[int]] = {}
    for i, (g, p) in enumerate(zip(gold, pred)):
        if g != p:
            examples.setdefault((g, p), []).append(i)
    ranked = sorted(examples.items(), key=lambda item: (-len(item[1]), item[1][0]))
    return [
        {"gold": g, "predicted": p, "count": len(rows), "examples": rows[:MAX_EXAMPLES]}
        for (g, p), rows in ranked[:MAX_CONFUSIONS]
    ]


def _set_errors(gold: list[list[str]], pred: list[list[str]]) -> list[dict]:
    """The themes most often missed from, or added to, the gold theme sets (``none`` left out),
    with the first example indices: the errors a right primary theme can hide."""
    examples: dict[tuple[str, str], list[int]] = {}
    for i, (g, p) in enumerate(zip(gold, pred)):
        wanted, given = set(g) - {NO_THEME}, set(p) - {NO_THEME}
        for theme in sorted(wanted - given):
            examples.setdefault(("missed", theme), []).append(i)
        for theme in sorted(given - wanted):
            examples.setdefault(("added", theme), []).append(i)
    ranked = sorted(examples.items(), key=lambda item: (-len(item[1]), item[1][0]))
    return [
        {"error": kind, "theme": theme, "count": len(rows), "examples": rows[:MAX_EXAMPLES]}
        for (kind, theme), rows in ranked[:MAX_CONFUSIONS]
    ]


def _confusion_matrix(gold: list[str], pred: list[str], labels: list[str]) -> dict:
    """Counts of (gold row, predicted column) over the labels present."""
    with warnings.catch_warnings():  # one label only: the labels given are all there are
        warnings.simplefilter("ignore", UserWarning)
        counts = confusion_matrix(gold, pred, labels=list(labels))
    return {"labels": list(labels), "counts": counts.tolist()}


# ---------------------------------------------------------------------------------------------
# the report


#: The figures of a training run kept in ``model.json`` (the report has them all).
HEADLINE_KEYS = ("n", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "weighted_f1",
                 "top3_accuracy", "set_micro_f1", "set_micro_f1_ci", "set_macro_f1",
                 "subset_accuracy", "hamming_loss", "brier", "ece")


def headline_metrics(metrics: dict | None) -> dict | None:
    """The :data:`HEADLINE_KEYS` figures of :func:`compute_metrics`' dict (None stays None)."""
    if metrics is None:
        return None
    return {k: metrics[k] for k in HEADLINE_KEYS if k in metrics}
