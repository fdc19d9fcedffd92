"""Analyse labeling rules: coverage, overlaps, conflicts and, against gold labels, accuracy.

:class:`RuleAnalysis` accumulates counts batch by batch, so an archive of any size can be analysed
in bounded memory; its methods return DataFrames and dicts and never print.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from policy_themes.jsondata import dumps
from policy_themes.rules.labeling import LabelResult
from policy_themes.rules.taxonomy import NO_THEME, Taxonomy

__all__ = ["RuleAnalysis", "analyze_rules"]


class RuleAnalysis:
    """Accumulated statistics of a taxonomy's rules over labeled batches.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy whose rules produced the labels.

    Notes
    -----
    As in Snorkel's ``LFAnalysis``: a rule's *coverage* is the share of sentences it fires on, its
    *overlaps* the share on which it and at least one other rule fire, and its *conflicts* the share
    on which a rule of another theme fires too. With gold labels, a rule is *correct* on a sentence
    when its theme is among the sentence's gold themes.

    Overall figures with gold: ``precision``, ``recall`` and ``f1`` are micro-averaged over
    (sentence, theme) pairs, ``none`` left out; ``primary_accuracy`` compares the rules' primary
    theme with the gold primary on every sentence; ``primary_precision`` is the share of the
    sentences the rules label whose rule primary is one of the gold themes; ``coverage_of_themed``
    is the share of sentences with a gold theme that the rules label at all.
    """

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.rule_names = [r.name for r in taxonomy.rules]
        self.rule_themes = [r.theme for r in taxonomy.rules]
        n_rules, n_themes = len(self.rule_names), len(taxonomy.ids)
        self._theme_index = {t: i for i, t in enumerate(taxonomy.ids)}
        self._rule_theme_idx = np.array([self._theme_index[t] for t in self.rule_themes], dtype=int)
        self.n = 0
        self.fires = np.zeros(n_rules, dtype=np.int64)
        self.overlaps = np.zeros(n_rules, dtype=np.int64)
        self.conflicts = np.zeros(n_rules, dtype=np.int64)
        self.theme_counts = np.zeros(n_themes, dtype=np.int64)
        self.primary_counts = np.zeros(n_themes, dtype=np.int64)
        self.cooccurrence = np.zeros((n_themes, n_themes), dtype=np.int64)
        self.n_gold = 0
        self.rule_correct = np.zeros(n_rules, dtype=np.int64)
        self.rule_fires_gold = np.zeros(n_rules, dtype=np.int64)
        self.tp = np.zeros(n_themes, dtype=np.int64)
        self.fp = np.zeros(n_themes, dtype=np.int64)
        self.fn = np.zeros(n_themes, dtype=np.int64)
        self.primary_correct = 0
        self.primary_in_gold = 0
        self.labeled_gold = 0
        self.gold_themed = 0
        self.gold_themed_covered = 0

    _COUNTERS = ("n", "fires", "overlaps", "conflicts", "theme_counts", "primary_counts",
                 "cooccurrence", "n_gold", "rule_correct", "rule_fires_gold", "tp", "fp", "fn",
                 "primary_correct", "primary_in_gold", "labeled_gold", "gold_themed",
                 "gold_themed_covered")

    def counters(self) -> dict[str, int | np.ndarray]:
        """What :meth:`update` has counted, to add to another analysis of the same taxonomy
        (:meth:`add_counters`): the worker processes of a run count their chunks."""
        return {name: getattr(self, name) for name in self._COUNTERS}

    def add_counters(self, counters: dict[str, int | np.ndarray]) -> None:
        """Add the :meth:`counters` of another analysis of the same taxonomy."""
        for name in self._COUNTERS:
            setattr(self, name, getattr(self, name) + counters[name])

    def update(self, result: LabelResult, gold: Sequence[Sequence[str]] | None = None) -> None:
        """Add a labeled batch (and its gold theme lists, primary first, when known)."""
        fired = result.counts > 0
        n_batch = fired.shape[0]
        self.n += n_batch
        per_row = fired.sum(axis=1)
        self.fires += fired.sum(axis=0)
        self.overlaps += (fired & (per_row[:, None] > 1)).sum(axis=0)
        theme_fired = self._theme_matrix(result.themes)
        themes_per_row = theme_fired.sum(axis=1)
        # a rule conflicts where any theme other than its own fires
        own = theme_fired[:, self._rule_theme_idx]
        self.conflicts += (fired & ((themes_per_row[:, None] - own) > 0)).sum(axis=0)
        self.theme_counts += theme_fired.sum(axis=0)
        for primary in result.primary:
            self.primary_counts[self._theme_index[primary]] += 1
        real = theme_fired.copy()
        real[:, self._theme_index[NO_THEME]] = False
        real_int = real.astype(np.int64)
        self.cooccurrence += real_int.T @ real_int
        if gold is not None:
            self._update_gold(result, fired, theme_fired, gold)

    def _theme_matrix(self, theme_lists: Sequence[Sequence[str]]) -> np.ndarray:
        matrix = np.zeros((len(theme_lists), len(self.taxonomy.ids)), dtype=bool)
        for i, themes in enumerate(theme_lists):
            for theme in themes:
                matrix[i, self._theme_index[theme]] = True
        return matrix

    def _update_gold(self, result, fired, theme_fired, gold) -> None:
        gold_matrix = self._theme_matrix(gold)
        self.n_gold += len(gold)
        self.rule_fires_gold += fired.sum(axis=0)
        self.rule_correct += (fired & gold_matrix[:, self._rule_theme_idx]).sum(axis=0)
        self.tp += (theme_fired & gold_matrix).sum(axis=0)
        self.fp += (theme_fired & ~gold_matrix).sum(axis=0)
        self.fn += (~theme_fired & gold_matrix).sum(axis=0)
        none = self._theme_index[NO_THEME]
        for predicted, truth, row_gold in zip(result.primary, gold, gold_matrix):
            self.primary_correct += predicted == truth[0]
            if predicted != NO_THEME:
                self.labeled_gold += 1
                self.primary_in_gold += predicted in truth
            if not row_gold[none]:
                self.gold_themed += 1
                self.gold_themed_covered += predicted != NO_THEME

    @property
    def has_gold(self) -> bool:
        """Whether gold labels were given."""
        return self.n_gold > 0

    def rule_summary(self) -> pd.DataFrame:
        """Per rule: theme, coverage, overlaps, conflicts; with gold, correctness and precision."""
        n = max(self.n, 1)
        frame = pd.DataFrame(
            {
                "theme": self.rule_themes,
                "fires": self.fires,
                "coverage": self.fires / n,
                "overlaps": self.overlaps / n,
                "conflicts": self.conflicts / n,
            },
            index=pd.Index(self.rule_names, name="rule"),
        )
        if self.has_gold:
            frame["correct"] = self.rule_correct
            frame["incorrect"] = self.rule_fires_gold - self.rule_correct
            frame["precision"] = _ratio(self.rule_correct, self.rule_fires_gold)
        return frame

    def theme_summary(self) -> pd.DataFrame:
        """Per theme: coverage and primary count; with gold also support, precision, recall, F1."""
        n = max(self.n, 1)
        frame = pd.DataFrame(
            {
                "labeled": self.theme_counts,
                "coverage": self.theme_counts / n,
                "primary": self.primary_counts,
            },
            index=pd.Index(self.taxonomy.ids, name="theme"),
        )
        if self.has_gold:
            precision = _ratio(self.tp, self.tp + self.fp)
            recall = _ratio(self.tp, self.tp + self.fn)
            frame["support"] = self.tp + self.fn
            frame["precision"] = precision
            frame["recall"] = recall
            frame["f1"] = _f1(precision, recall)
        return frame

    def conflict_matrix(self) -> pd.DataFrame:
        """Sentences on which the rules give both themes (themes x themes; diagonal = coverage)."""
        ids = [t for t in self.taxonomy.ids if t != NO_THEME]
        keep = [self._theme_index[t] for t in ids]
        return pd.DataFrame(self.cooccurrence[np.ix_(keep, keep)], index=ids, columns=ids)

    def overall(self) -> dict:
        """Headline figures: sentences, coverage, themes per sentence; with gold, accuracy."""
        none = self._theme_index[NO_THEME]
        labeled = self.n - self.primary_counts[none]
        figures = {
            "sentences": int(self.n),
            "rules": len(self.rule_names),
            "coverage": _safe(labeled, self.n),
            "themes_per_covered_sentence": _safe(
                self.theme_counts.sum() - self.theme_counts[none], labeled
            ),
        }
        if self.has_gold:
            real = [i for i in range(len(self.taxonomy.ids)) if i != none]
            tp, fp, fn = self.tp[real].sum(), self.fp[real].sum(), self.fn[real].sum()
            precision, recall = _safe(tp, tp + fp), _safe(tp, tp + fn)
            figures.update(
                {
                    "gold_sentences": int(self.n_gold),
                    "precision": precision,
                    "recall": recall,
                    "f1": _safe(2 * precision * recall, precision + recall),
                    "primary_accuracy": _safe(self.primary_correct, self.n_gold),
                    "primary_precision": _safe(self.primary_in_gold, self.labeled_gold),
                    "coverage_of_themed": _safe(self.gold_themed_covered, self.gold_themed),
                }
            )
        return figures

    def to_dict(self) -> dict:
        """Everything as plain JSON-ready data."""
        return {
            "overall": self.overall(),
            "themes": _records(self.theme_summary()),
            "rules": _records(self.rule_summary()),
            "theme_cooccurrence": self.conflict_matrix().to_dict(orient="index"),
        }

    def to_json(self) -> str:
        """The analysis as a JSON document."""
        return dumps(self.to_dict())

    def to_markdown(self) -> str:
        """The analysis as a Markdown report a person reads."""
        overall = self.overall()
        lines = [f"# Rule analysis: taxonomy '{self.taxonomy.name}'", ""]
        lines += [f"- {k.replace('_', ' ')}: {_fmt(v)}" for k, v in overall.items()]
        lines += ["", "## Themes", "", _markdown_table(self.theme_summary())]
        lines += ["", "## Rules", "", _markdown_table(self.rule_summary())]
        lines += ["", "## Theme co-occurrence (sentences given both themes by the rules)", "",
                  _markdown_table(self.conflict_matrix())]
        return "\n".join(lines) + "\n"


def analyze_rules(result: LabelResult, taxonomy: Taxonomy,
                  gold: Sequence[Sequence[str]] | None = None) -> RuleAnalysis:
    """Analyse one batch of rule labels.

    Parameters
    ----------
    result : LabelResult
        Output of :func:`~policy_themes.rules.labeling.label_sentences`.
    taxonomy : Taxonomy
        The taxonomy whose rules produced ``result``.
    gold : sequence of sequence of str, default=None
        Gold theme lists (primary first), one per sentence.

    Returns
    -------
    RuleAnalysis
        Call ``rule_summary()``, ``theme_summary()``, ``conflict_matrix()`` or ``overall()``.
    """
    analysis = RuleAnalysis(taxonomy)
    analysis.update(result, gold)
    return analysis


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.full_like(total, np.nan),
                     where=np.nan_to_num(total) > 0)


def _safe(num, den) -> float:
    return float(num) / float(den) if den else float("nan")


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.reset_index().to_json(orient="records"))


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def _markdown_table(frame: pd.DataFrame) -> str:
    """Render a DataFrame as a GitHub Markdown table (no extra dependency)."""
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    rows = [[str(idx)] + [_fmt(v) if isinstance(v, float) else str(v) for v in row]
            for idx, row in zip(frame.index, frame.itertuples(index=False))]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)
