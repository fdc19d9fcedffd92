"""Apply the taxonomy's labeling rules to sentences and aggregate their votes into themes.

Every rule is applied to every sentence, giving a vote matrix (sentences x rules) whose cell is the
number of times the rule matched (0 = the rule abstains). A theme's score is the weighted sum of its
rules' votes; the theme set is every theme with a positive score, ordered by score, and the primary
theme is the strongest, ties broken by the earliest match in the sentence, then by taxonomy order.
A sentence on which no rule fires is ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .taxonomy import NO_THEME, Rule, Taxonomy

__all__ = ["RuleMatcher", "LabelResult", "label_sentences", "THEME_SEP"]

THEME_SEP = ";"
_NO_MATCH = np.iinfo(np.int32).max


class RuleMatcher:
    """The compiled rules of a taxonomy, applied to batches of sentences.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy whose rules to apply.
    """

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.rules: list[Rule] = taxonomy.rules
        self.rule_names = [r.name for r in self.rules]
        self._compiled = [(r.regex, r.exclude_regex) for r in self.rules]
        theme_index = {theme_id: i for i, theme_id in enumerate(taxonomy.ids)}
        self.rule_theme = np.array([theme_index[r.theme] for r in self.rules], dtype=np.int64)
        self._weights = np.zeros((len(self.rules), len(taxonomy.ids)))
        for i, rule in enumerate(self.rules):
            self._weights[i, self.rule_theme[i]] = rule.weight

    def votes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Apply every rule to every text.

        Parameters
        ----------
        texts : sequence of str
            Sentences.

        Returns
        -------
        counts : ndarray of shape (n_texts, n_rules), dtype int32
            How often each rule matched each text; 0 means the rule abstains.
        first : ndarray of shape (n_texts, n_rules), dtype int32
            Character position of each rule's first match (a large value where it did not match).
        """
        n = len(texts)
        counts = np.zeros((n, len(self.rules)), dtype=np.int32)
        first = np.full((n, len(self.rules)), _NO_MATCH, dtype=np.int32)
        if n == 0 or not self.rules:
            return counts, first
        # One scan per rule over the whole batch is far faster than one search per sentence.
        lowered = [str(t).lower().replace("\n", " ") for t in texts]
        starts = np.cumsum([0] + [len(t) + 1 for t in lowered[:-1]])
        joined = "\n".join(lowered)
        for j, (regex, exclude) in enumerate(self._compiled):
            positions = _match_starts(regex, exclude, joined)
            if not positions:
                continue
            pos = np.asarray(positions, dtype=np.int64)
            rows = np.searchsorted(starts, pos, side="right") - 1
            np.add.at(counts[:, j], rows, 1)
            np.minimum.at(first[:, j], rows, (pos - starts[rows]).astype(np.int32))
        return counts, first

    def theme_scores(self, counts: np.ndarray) -> np.ndarray:
        """Weighted rule votes per theme: shape (n_texts, n_themes), ``none`` column always 0."""
        return counts @ self._weights

    def theme_first(self, first: np.ndarray) -> np.ndarray:
        """Earliest match position per theme: shape (n_texts, n_themes)."""
        out = np.full((first.shape[0], len(self.taxonomy.ids)), _NO_MATCH, dtype=np.int32)
        for j, theme in enumerate(self.rule_theme):
            np.minimum(out[:, theme], first[:, j], out=out[:, theme])
        return out


def _match_starts(regex, exclude, text: str) -> list[int]:
    """Start positions of the regex's matches, dropping those an exclusion match overlaps."""
    if exclude is None:
        return [m.start() for m in regex.finditer(text)]
    blocked = [m.span() for m in exclude.finditer(text)]
    if not blocked:
        return [m.start() for m in regex.finditer(text)]
    block_starts = np.array([s for s, _ in blocked])
    block_ends = np.array([e for _, e in blocked])
    kept = []
    for m in regex.finditer(text):
        # finditer's spans are disjoint and sorted, so only the last one starting before this
        # match ends can overlap it
        i = int(np.searchsorted(block_starts, m.end(), side="left")) - 1
        if i < 0 or block_ends[i] <= m.start():
            kept.append(m.start())
    return kept


@dataclass
class LabelResult:
    """Rule labels for a batch of sentences.

    Attributes
    ----------
    themes : list of list of str
        Each sentence's theme set, primary first (``["none"]`` when no rule fired).
    primary : list of str
        Each sentence's primary theme.
    rules_fired : list of list of str
        Names of the rules that fired on each sentence.
    counts : ndarray of shape (n_sentences, n_rules)
        The vote matrix (matches per rule; 0 = abstain).
    scores : ndarray of shape (n_sentences, n_themes)
        Weighted votes per theme, columns in ``taxonomy.ids`` order.
    rule_names : list of str
        Column names of ``counts``.
    """

    themes: list[list[str]]
    primary: list[str]
    rules_fired: list[list[str]]
    counts: np.ndarray
    scores: np.ndarray
    rule_names: list[str]

    def to_frame(self) -> pd.DataFrame:
        """Return ``themes``, ``primary`` and ``rules`` as a DataFrame of strings."""
        return pd.DataFrame(
            {
                "themes": [THEME_SEP.join(t) for t in self.themes],
                "primary": self.primary,
                "rules": [THEME_SEP.join(r) for r in self.rules_fired],
            }
        )

    def vote_frame(self) -> pd.DataFrame:
        """Return the vote matrix as a DataFrame with one column per rule."""
        return pd.DataFrame(self.counts, columns=self.rule_names)


def label_sentences(
    texts: Sequence[str], taxonomy: Taxonomy, *, matcher: RuleMatcher | None = None
) -> LabelResult:
    """Label sentences with the taxonomy's rules.

    Parameters
    ----------
    texts : sequence of str
        The sentences.
    taxonomy : Taxonomy
        Taxonomy whose rules vote.
    matcher : RuleMatcher, default=None
        A matcher built once for ``taxonomy``, to reuse across batches.

    Returns
    -------
    LabelResult
        Theme sets, primary themes, fired rules and the vote matrix.

    Examples
    --------
    >>> from policy_themes import load_taxonomy
    >>> result = label_sentences(["The gas pipeline to Europe is ready."], load_taxonomy())
    >>> result.primary
    ['energy_diplomacy']
    """
    matcher = matcher or RuleMatcher(taxonomy)
    counts, first = matcher.votes(list(texts))
    scores = matcher.theme_scores(counts)
    theme_first = matcher.theme_first(first)
    ids = taxonomy.ids
    themes, primary = _aggregate(scores, theme_first, ids)
    fired = [[matcher.rule_names[j] for j in np.flatnonzero(row)] for row in counts]
    return LabelResult(themes, primary, fired, counts, scores, matcher.rule_names)


def _aggregate(scores: np.ndarray, theme_first: np.ndarray, ids: list[str]):
    """Theme sets (primary first, then by score, position, taxonomy order) and primary themes."""
    themes: list[list[str]] = []
    primary: list[str] = []
    n_themes = len(ids)
    order_key = np.arange(n_themes)
    for row_scores, row_first in zip(scores, theme_first):
        positive = np.flatnonzero(row_scores > 0)
        if positive.size == 0:
            themes.append([NO_THEME])
            primary.append(NO_THEME)
            continue
        ranked = sorted(positive, key=lambda k: (-row_scores[k], row_first[k], order_key[k]))
        row_themes = [ids[k] for k in ranked]
        themes.append(row_themes)
        primary.append(row_themes[0])
    return themes, primary
