"""Measure theme predictions against gold labels and write the accuracy report a person reads.

The module works on plain predictions (lists of theme ids and a probability matrix), never on a
model, so any predictor, the rules or a baseline can be scored the same way.
:func:`compute_metrics` returns a JSON-ready dict; :class:`EvalReport` renders such dicts as
Markdown, JSON and a confusion-matrix picture and writes the three files atomically.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

from policy_themes.errors import ConfigError, DataError
from policy_themes.io.data import atomic_path
from policy_themes.rules.taxonomy import NO_THEME

__all__ = ["compute_metrics", "EvalReport", "majority_baseline", "evaluate"]

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
CONFUSION_PNG = "confusion.png"
TOP_K = 3
N_BINS = 10
MAX_CONFUSIONS = 10
MAX_EXAMPLES = 3
EXAMPLE_CHARS = 160
WEAK_F1 = 0.5
FEW_SUPPORT = 10
_PROBA_ATOL = 1e-3
_FILE_MODE = 0o644
_MARKUP = set("\\`*_<>[]#|")

# (key, label in the headline table, higher is better, key of its interval or None)
_HEADLINE = [
    ("accuracy", "Accuracy (primary)", True, "accuracy_ci"),
    ("macro_f1", "Macro-F1 (primary)", True, "macro_f1_ci"),
    ("weighted_f1", "Weighted F1 (primary)", True, None),
    ("top3_accuracy", "Top-3 accuracy", True, None),
    ("set_micro_f1", "Theme-set micro-F1", True, "set_micro_f1_ci"),
    ("subset_accuracy", "Theme-set exact match", True, None),
    ("hamming_loss", "Hamming loss", False, None),
    ("brier", "Brier score", False, None),
    ("ece", "Calibration error (ECE)", False, None),
]

_HOW_TO_READ = (
    "*Accuracy* is the share of sentences whose predicted primary theme equals the gold primary "
    "theme (`none` counts as a theme here); the bracket is a 95 % bootstrap interval over "
    "sentences, so two systems whose intervals overlap widely may not really differ. *Macro-F1* "
    "averages the per-theme F1 with every theme weighted equally, so it drops when rare themes "
    "fail; *weighted F1* weights themes by their number of gold sentences. *Top-3 accuracy* says "
    "how often the gold primary is among the three most probable themes (useful when a person "
    "picks from suggestions). The *theme-set* figures compare all themes of a sentence, `none` "
    "left out: micro-F1 over (sentence, theme) pairs, exact match of the whole set, and Hamming "
    "loss, the share of (sentence, theme) decisions that are wrong (lower is better). The *Brier "
    "score* (0 is perfect, 2 the worst) and the *expected calibration error* (0 is perfect) say "
    "whether the probabilities can be trusted: an ECE of 0.10 means the stated confidence is off "
    "by ten points on average. In the per-theme table the weakest themes come first; a theme with "
    f"fewer than {FEW_SUPPORT} gold sentences has a very uncertain F1, so read it with care. The "
    "confusion matrix shows gold themes in rows and predicted themes in columns: the right panel "
    "divides each row by its total, so a dark cell off the diagonal is a systematic mistake."
)


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
                "';'-joined cells first (policy_themes.io.data.parse_themes)"
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
        "hamming_loss": float(np.mean(y_true != y_pred)),
    }


def _binarize(sets: list[set[str]], space: list[str]) -> np.ndarray:
    """An indicator matrix (sentences x themes) of theme sets."""
    index = {t: j for j, t in enumerate(space)}
    matrix = np.zeros((len(sets), len(space)), dtype=int)
    for i, themes in enumerate(sets):
        matrix[i, [index[t] for t in themes]] = 1
    return matrix


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


def _confusion_matrix(gold: list[str], pred: list[str], labels: list[str]) -> dict:
    """Counts of (gold row, predicted column) over the labels present."""
    index = {t: i for i, t in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(counts, ([index[g] for g in gold], [index[p] for p in pred]), 1)
    return {"labels": list(labels), "counts": counts.tolist()}


# ---------------------------------------------------------------------------------------------
# the report


@dataclass
class EvalReport:
    """An accuracy report: the model's figures, baselines to compare with, and the sentences.

    Parameters
    ----------
    metrics : dict
        :func:`compute_metrics` output for the model.
    baselines : dict
        Name (e.g. ``"rules"``, ``"majority"``) to a :func:`compute_metrics`-style dict; may be
        empty.
    texts : list of str
        The evaluated sentences, in the order of the metrics, for example sentences; may be empty.
    title : str, default="Evaluation"
        Heading of the report.
    meta : dict
        Facts shown at the top: model name, data path, date and so on.
    findings : list of DataFinding
        What was noticed in the data without stopping (rows skipped for blank text).
    predictions : DataFrame, default=None
        Each evaluated sentence's ``text``, ``gold`` themes, predicted ``primary`` and ``themes``
        (ids joined by ``;``), as :func:`evaluate` made them; not part of the written report.

    Examples
    --------
    >>> m = compute_metrics([["a"]], ["a"], [["a"]], None, ["a", "none"], n_boot=0)
    >>> EvalReport(m, {}, ["A sentence."]).to_dict()["metrics"]["accuracy"]
    1.0
    """

    metrics: dict
    baselines: dict
    texts: list[str]
    title: str = "Evaluation"
    meta: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)
    predictions: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """Everything as plain JSON-ready data; confusions also carry their example sentences."""
        metrics = dict(self.metrics)
        metrics["confusions"] = [
            {**c, "example_texts": [self._text(i) for i in c.get("examples", [])]}
            for c in self.metrics.get("confusions", [])
        ]
        return _jsonable({
            "title": self.title,
            "meta": self.meta,
            "metrics": metrics,
            "baselines": self.baselines,
        })

    def to_json(self) -> str:
        """The report as a JSON document (NaN written as ``null``)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        """The report as Markdown: headline, comparison, weak themes, confusions, how to read.

        Raises
        ------
        DataError
            If ``texts`` is neither empty nor one sentence per evaluated sentence.
        """
        self._check_texts()
        parts = [
            f"# {self.title}",
            _meta_lines(self.meta, self.metrics),
            "## At a glance\n\n" + _glance(self.metrics, self.baselines),
            "## Headline figures\n\n" + _headline_table(self.metrics, self.baselines),
            "## Per theme (primary theme), weakest first\n\n" + _theme_section(self.metrics),
            "## Most frequent confusions\n\n" + self._confusion_section(),
            "## Confusion matrix\n\n"
            f"![Confusion matrix: counts and row-normalised]({CONFUSION_PNG})\n\n"
            "Rows are gold primary themes, columns predicted ones; the right panel shows each row "
            "as shares of its gold sentences (the diagonal is the recall of each theme).",
            "## How to read this\n\n" + _HOW_TO_READ,
        ]
        return "\n\n".join(p for p in parts if p) + "\n"

    def write(self, directory) -> dict[str, Path]:
        """Write ``report.md``, ``report.json`` and ``confusion.png`` into ``directory``.

        All three files are rendered to temporary files beside their targets first and renamed
        over them only when every one is complete, so a failure leaves an earlier report intact.

        Parameters
        ----------
        directory : str or Path
            Output folder; created if missing (its parent must exist).

        Returns
        -------
        dict of str to Path
            ``{"markdown": ..., "json": ..., "png": ...}``.

        Raises
        ------
        DataError
            If the parent folder does not exist, the path is a file, or it cannot be written.
        """
        directory = Path(directory)
        created = _prepare_directory(directory)
        targets = {
            "markdown": directory / REPORT_MD,
            "json": directory / REPORT_JSON,
            "png": directory / CONFUSION_PNG,
        }
        temporary: dict[str, Path] = {}
        try:
            for key, target in targets.items():
                temporary[key] = atomic_path(target)
            temporary["markdown"].write_text(self.to_markdown(), encoding="utf-8")
            temporary["json"].write_text(self.to_json(), encoding="utf-8")
            _plot_confusion(self.metrics["confusion_matrix"], temporary["png"], self.title)
            for key, target in targets.items():
                os.chmod(temporary[key], _FILE_MODE)  # mkstemp makes 0600 files
                os.replace(temporary[key], target)
        except BaseException as exc:
            for path in temporary.values():
                with contextlib.suppress(OSError):
                    path.unlink()
            if created:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            if isinstance(exc, OSError):  # a full disk, a folder made read-only meanwhile
                raise DataError(f"{directory}: cannot write the report "
                                f"({exc.strerror or exc})") from None
            raise
        return targets

    def _text(self, index: int) -> str | None:
        """The sentence at ``index``, or None when texts were not given."""
        return self.texts[index] if 0 <= index < len(self.texts) else None

    def _check_texts(self) -> None:
        """Refuse texts that do not line up with the evaluated sentences."""
        n = self.metrics.get("n")
        if self.texts and n is not None and len(self.texts) != n:
            raise DataError(
                f"report texts do not match the metrics: {len(self.texts)} sentences given, "
                f"{n} evaluated"
            )

    def _confusion_section(self) -> str:
        """A numbered list of confusions, each with quoted example sentences."""
        confusions = self.metrics.get("confusions", [])
        if not confusions:
            return "No errors: every primary theme is right."
        n = self.metrics.get("n") or 0
        lines = []
        for rank, c in enumerate(confusions, 1):
            share = f", {_pct(c['count'] / n)} of all sentences" if n else ""
            lines.append(
                f"{rank}. gold **`{c['gold']}`** predicted as **`{c['predicted']}`**: "
                f"{c['count']} sentence{'s' if c['count'] != 1 else ''}{share}"
            )
            indent = " " * len(f"{rank}. ")
            for i in c.get("examples", []):
                text = self._text(i)
                quoted = f"“{_escape(_shorten(text))}”" if text is not None else "(text not given)"
                lines.append(f"{indent}- #{i}: {quoted}")
        return "\n".join(lines)


def _prepare_directory(directory: Path) -> bool:
    """Create the output folder if needed; return whether it was created."""
    parent = directory.parent if str(directory.parent) else Path(".")
    if directory.is_dir():
        return False
    if directory.exists():
        raise DataError(f"{directory}: exists and is not a folder; choose another report folder")
    if not parent.is_dir():
        raise DataError(f"{directory}: cannot create the report folder, {parent} does not exist")
    try:
        directory.mkdir()
    except OSError as exc:
        raise DataError(f"{directory}: cannot create the report folder ({exc.strerror or exc})") \
            from None
    return True


# ---------------------------------------------------------------------------------------------
# Markdown helpers


def _meta_lines(meta: dict, metrics: dict) -> str:
    """Bullet list of the report's facts, the number of sentences last."""
    lines = [f"- **{key}**: {value}" for key, value in meta.items()]
    lines.append(f"- **sentences evaluated**: {metrics.get('n', 'n/a')}")
    return "\n".join(lines)


def _glance(metrics: dict, baselines: dict) -> str:
    """Three or four sentences: how good the model is, against what, and where it fails."""
    n = metrics.get("n", 0)
    sentences = [
        f"The model gets the primary theme right for **{_pct(metrics.get('accuracy'))}** of "
        f"{n} sentences (95 % CI {_pct_range(metrics.get('accuracy_ci'))}); "
        f"macro-F1 is **{_num(metrics.get('macro_f1'))}**."
    ]
    if baselines:
        compared = ", ".join(
            f"{name} {_pct(b.get('accuracy'))}" for name, b in baselines.items()
        )
        sentences.append(f"Baselines on the same sentences: {compared}.")
    weak = [t for t in _weakest(metrics.get("per_theme", [])) if _is_weak(t)][:3]
    if weak:
        listed = ", ".join(f"`{t['theme']}` (F1 {_num(t['f1'])})" for t in weak)
        sentences.append(f"Weakest themes: {listed}.")
    confusions = metrics.get("confusions", [])
    if confusions:
        top = confusions[0]
        sentences.append(
            f"Most frequent error: `{top['gold']}` predicted as `{top['predicted']}` "
            f"({_times(top['count'])})."
        )
    return " ".join(sentences)


def _headline_table(metrics: dict, baselines: dict) -> str:
    """Rows of figures, a column per system, the best value of each row in bold."""
    systems = {"model": metrics, **baselines}
    header = "| figure | " + " | ".join(systems) + " |"
    lines = [header, "|---|" + "---:|" * len(systems)]
    for key, label, higher, ci_key in _HEADLINE:
        values = [_as_float(s.get(key)) for s in systems.values()]
        best = _best(values, higher) if len(systems) > 1 else None
        cells = []
        for value, system in zip(values, systems.values()):
            cell = _num(value)
            if value is not None and value == best:
                cell = f"**{cell}**"
            if ci_key and _has_interval(system.get(ci_key)):
                cell += f" [{_num(system[ci_key][0])}, {_num(system[ci_key][1])}]"
            cells.append(cell)
        arrow = "↑" if higher else "↓"
        lines.append(f"| {label} {arrow} | " + " | ".join(cells) + " |")
    bold = "the best value of each row is in bold; " if len(systems) > 1 else ""
    lines.append("")
    lines.append(f"↑ higher is better, ↓ lower is better; {bold}brackets are 95 % bootstrap "
                 "intervals; n/a = not available (no probabilities, or no theme in any set).")
    return "\n".join(lines)


def _times(count: int) -> str:
    """'once', 'twice' or 'N times'."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _theme_section(metrics: dict) -> str:
    """The per-theme table, weakest first, with a note on each weak or thin theme."""
    rows = metrics.get("per_theme", [])
    shown = [r for r in rows if r.get("support", 0) or r.get("predicted", 0)]
    absent = [r["theme"] for r in rows if r not in shown]
    lines = ["| theme | precision | recall | F1 | support | predicted | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for row in _weakest(shown):
        lines.append(
            f"| `{row['theme']}` | {_num(row['precision'])} | {_num(row['recall'])} | "
            f"{_num(row['f1'])} | {row['support']} | {row.get('predicted', '')} | "
            f"{_theme_note(row)} |"
        )
    lines += ["", f"⚠ marks F1 below {WEAK_F1}, a theme the model never predicts, or one it "
              "predicts although no gold sentence has it; support = gold sentences with this "
              "primary theme, predicted = sentences given it as primary."]
    if absent:
        lines.append(f"Not in this evaluation set and never predicted: "
                     f"{', '.join(f'`{t}`' for t in absent)}.")
    return "\n".join(lines)


def _theme_note(row: dict) -> str:
    """Short warnings for one per-theme row."""
    notes = []
    if row.get("support", 0) and not row.get("predicted", 0):
        notes.append("⚠ never predicted")
    elif not row.get("support", 0):
        notes.append("⚠ predicted, never in gold")
    elif _is_weak(row):
        notes.append("⚠ weak")
    if 0 < row.get("support", 0) < FEW_SUPPORT:
        notes.append("few examples")
    return "; ".join(notes)


def _weakest(rows: list[dict]) -> list[dict]:
    """Rows sorted by F1, lowest first (undefined F1 last), then by support, largest first."""
    def key(row):
        f1 = _as_float(row.get("f1"))
        return (f1 is None, f1 if f1 is not None else 0.0, -row.get("support", 0))
    return sorted(rows, key=key)


def _is_weak(row: dict) -> bool:
    """Whether a theme's F1 is below the weak threshold."""
    f1 = _as_float(row.get("f1"))
    return f1 is not None and f1 < WEAK_F1


def _best(values: list[float | None], higher: bool) -> float | None:
    """The best defined value of a row."""
    defined = [v for v in values if v is not None]
    if not defined:
        return None
    return max(defined) if higher else min(defined)


def _has_interval(value) -> bool:
    """Whether a [low, high] interval is present and defined."""
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(_as_float(v) is not None for v in value))


def _as_float(value) -> float | None:
    """A number as float, or None when missing or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _num(value) -> str:
    """A figure with three decimals, or n/a."""
    value = _as_float(value)
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value) -> str:
    """A share as a percentage, or n/a."""
    value = _as_float(value)
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _pct_range(interval) -> str:
    """An interval as a percentage range, or n/a."""
    if not _has_interval(interval):
        return "n/a"
    return f"{_pct(interval[0])}–{_pct(interval[1])}"


def _shorten(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """One line of at most ``limit`` characters, cut at a word with an ellipsis."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(",;:") + "…"


def _escape(text: str) -> str:
    """Escape the characters that Markdown would read as markup in a quoted sentence."""
    return "".join("\\" + ch if ch in _MARKUP else ch for ch in text)


def _jsonable(value):
    """Plain JSON data: numpy scalars and arrays converted, NaN as None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------
# the picture


def _plot_confusion(matrix: dict, path: Path, title: str) -> None:
    """Draw the confusion matrix, counts and row-normalised side by side, as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = matrix["labels"]
    counts = np.asarray(matrix["counts"], dtype=float).reshape(len(labels), len(labels))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    figure = Figure(figsize=(16, 7), dpi=110)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    _draw_panel(figure, left, counts, labels, "Counts", "{:.0f}")
    _draw_panel(figure, right, shares, labels, "Share of each gold theme (row-normalised)",
                "{:.2f}", vmax=1.0)
    figure.suptitle(f"{title}: confusion matrix of the primary theme", fontsize=12)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)


def _draw_panel(figure, ax, values: np.ndarray, labels: list[str], title: str, fmt: str,
                vmax: float | None = None) -> None:
    """One heat-map panel with theme labels on both axes and the values in the cells."""
    k = len(labels)
    top = vmax if vmax is not None else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=top, aspect="auto")
    figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    font = 9 if k <= 10 else 7
    ax.set_xticks(range(k), labels=labels, rotation=40, ha="right", rotation_mode="anchor",
                  fontsize=font)
    ax.set_yticks(range(k), labels=labels, fontsize=font)
    ax.set_xlabel("predicted primary theme")
    ax.set_ylabel("gold primary theme")
    ax.set_title(title, fontsize=11)
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if values[i, j] > 0:
                    dark = values[i, j] > 0.6 * top
                    ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center",
                            fontsize=font - 1, color="white" if dark else "black")


def _predictions_frame(columns: dict):
    import pandas as pd

    return pd.DataFrame(columns)


def evaluate(
    model,
    data: str | Path,
    *,
    taxonomy=None,
    text_column: str = "text",
    label_column: str | None = None,
    doc_column: str | None = None,
    encoding: str | None = None,
    out_dir: str | Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> EvalReport:
    """Evaluate a model on a labeled file, beside the rules alone and the majority class.

    Parameters
    ----------
    model : ThemeModel or str or Path
        A loaded model or its directory.
    data : str or Path
        A labeled table (``text`` and ``themes`` or ``theme``).
    taxonomy : Taxonomy, default=None
        The taxonomy of the labels and of the rules baseline; None uses the model's own.
    text_column : str, default="text"
        Text column of the table.
    label_column : str, default=None
        Label column; None looks for ``themes``, then ``theme``.
    doc_column : str, default=None
        Column naming each sentence's document; None takes the first of the model's
        ``context.document_columns`` present (:func:`~policy_themes.io.data.find_document_column`,
        the rule ``predict`` follows too).
    encoding : str, default=None
        Table encoding.
    out_dir : str or Path, default=None
        Write ``report.md``, ``report.json`` and ``confusion.png`` here.
    n_boot : int, default=1000
        Bootstrap resamples for the 95 % intervals.
    seed : int, default=0
        Bootstrap seed.

    Returns
    -------
    EvalReport

    Notes
    -----
    A model trained with context features reads each sentence's context from the table as it
    did in training: the context columns, else the neighbouring rows of the same document. A
    table with neither gets a finding saying the context is off.

    Raises
    ------
    ModelError
        If the model is missing or was built for another taxonomy.
    DataError
        If the data file is missing, malformed, has unknown theme ids or no text, or
        ``out_dir`` is a model directory. Rows with blank or missing text are skipped and
        reported in the report's ``findings``.
    """
    from datetime import date

    from policy_themes.io.data import DataFinding, blank_rows_finding, read_labeled_table
    from policy_themes.model.store import META_FILE
    from policy_themes.rules.labeling import label_sentences
    from policy_themes.workflows.prediction import ThemeModel, load_model

    if out_dir is not None and (Path(out_dir) / META_FILE).exists():
        raise DataError(f"{out_dir}: is a model directory and its training report would be "
                        "overwritten; write the report elsewhere (--out)")
    model = model if isinstance(model, ThemeModel) else load_model(model)
    taxonomy = taxonomy or model.taxonomy()
    model.check_taxonomy(taxonomy)
    table = read_labeled_table(data, taxonomy, text_column=text_column,
                               label_column=label_column, encoding=encoding)
    frame = table.frame
    blank = blank_rows_finding({table.source: table.skipped} if table.skipped else {})
    if not len(frame):
        raise DataError(f"no text to evaluate: {blank.message}")
    texts = frame["text"].tolist()
    gold = frame["themes"].tolist()
    context = model.context_for(frame, doc_column=doc_column)
    primary, sets, proba, _ = model.predict_arrays(texts, context)
    no_context = model.context_note(frame.columns, str(data), doc_column=doc_column)
    findings = [f for f in (blank,) if f]
    if no_context is not None:
        findings.insert(0, DataFinding("no_context", no_context, len(frame)))
    classes = model.classes
    metrics = compute_metrics(gold, primary, sets, proba, classes, n_boot=n_boot, seed=seed)
    rules = label_sentences(texts, taxonomy)
    baselines = {"rules alone": compute_metrics(gold, rules.primary, rules.themes, None, classes,
                                                n_boot=n_boot, seed=seed)}
    majority = model.majority_theme()
    if majority is not None:
        m_primary, m_sets, m_proba = majority_baseline([majority], len(texts), classes)
        baselines["majority class"] = compute_metrics(gold, m_primary, m_sets, m_proba, classes,
                                                      n_boot=n_boot, seed=seed)
    report = EvalReport(
        metrics=metrics, baselines=baselines, texts=texts,
        title=f"Evaluation of {model.name} on {Path(data).name}",
        meta={"model": str(model.path or model.name), "data": str(data),
              "date": date.today().isoformat(),
              "trained on": ", ".join(model.meta.get("training_data", {}).get("files", [])),
              **({"skipped (blank text)": blank.count} if blank else {})},
        findings=findings,
        predictions=_predictions_frame({"text": texts, "gold": [";".join(g) for g in gold],
                                  "primary": list(primary),
                                  "themes": [";".join(t) for t in sets]}),
    )
    if out_dir is not None:
        report.write(out_dir)
    return report
