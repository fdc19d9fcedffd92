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

from policy_themes.errors import ConfigError
from policy_themes.rules.matching import PatternError, PatternMatcher, drop_excluded
from policy_themes.rules.taxonomy import NO_THEME, THEME_SEP, Rule, Taxonomy

__all__ = ["RuleMatcher", "LabelResult", "label_sentences", "rows_product", "nonzero_rows",
           "THEME_SEP"]

_NO_MATCH = np.iinfo(np.int32).max


class RuleMatcher:
    """The rules of a taxonomy, applied to batches of sentences.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy whose rules to apply.

    Raises
    ------
    ConfigError
        If a rule's pattern cannot be matched (a taxonomy not checked by
        :func:`~policy_themes.rules.taxonomy.load_taxonomy`).
    """

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.rules: list[Rule] = taxonomy.rules
        self.rule_names = [r.name for r in self.rules]
        try:
            self._matcher = PatternMatcher([(r.patterns, r.exclude) for r in self.rules])
        except PatternError as exc:
            rule = self.rules[exc.rule]
            raise ConfigError(f"{taxonomy.source or taxonomy.name}: theme '{rule.theme}', rule "
                              f"'{rule.name}': invalid pattern {exc.pattern!r} ({exc})") from None
        theme_index = {theme_id: i for i, theme_id in enumerate(taxonomy.ids)}
        self.rule_theme = np.array([theme_index[r.theme] for r in self.rules], dtype=np.int64)
        self._weights = np.zeros((len(self.rules), len(taxonomy.ids)))
        for i, rule in enumerate(self.rules):
            self._weights[i, self.rule_theme[i]] = rule.weight

    def votes(self, texts: Sequence[str], normalized: str | np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Apply every rule to every text.

        Parameters
        ----------
        texts : sequence of str
            Sentences.
        normalized : str or ndarray, default=None
            ``normalize_batch(texts)`` (or ``normalize_batch_bytes(texts)``) when the caller has
            it already.

        Returns
        -------
        counts : ndarray of shape (n_texts, n_rules), dtype int32
            How often each rule matched each text; 0 means the rule abstains.
        first : ndarray of shape (n_texts, n_rules), dtype int32
            Position of each rule's first match in the normalised sentence (a large value where
            it did not match); see :mod:`policy_themes.rules.matching`.
        """
        n = len(texts)
        counts = np.zeros((n, len(self.rules)), dtype=np.int32)
        first = np.full((n, len(self.rules)), _NO_MATCH, dtype=np.int32)
        if n == 0 or not self.rules:
            return counts, first
        patterns, exclusions, starts = self._matcher.find(texts, normalized)
        keep = drop_excluded(patterns, exclusions)
        rules, rows = patterns.rule[keep], patterns.sentence[keep]
        np.add.at(counts, (rows, rules), 1)
        offsets = (patterns.start[keep] - starts[rows] - 1).astype(np.int32)  # past the padding
        np.minimum.at(first, (rows, rules), offsets)
        return counts, first

    def theme_scores(self, counts: np.ndarray) -> np.ndarray:
        """Weighted rule votes per theme: shape (n_texts, n_themes), ``none`` column always 0."""
        # a sparse product: a BLAS product of these small matrices leaves BLAS threads spinning
        # on the other cores for a while after each batch
        return rows_product(counts, self._weights)

    def vote_features(self, texts: Sequence[str], n_themes: int, *, per_line: bool = False,
                      normalized: str | None = None):
        """The model's rule features: ``log1p`` of each theme's weighted votes, sparse.

        Parameters
        ----------
        texts : sequence of str
        n_themes : int
            Columns kept (the themes without ``none``).
        per_line : bool, default=False
            Add up the votes of each line of a text (the sentences of a context), matching each
            distinct line of the batch once.
        normalized : str, default=None
            ``normalize_batch(texts)`` when the caller has it already (not with ``per_line``).

        Returns
        -------
        scipy.sparse.csr_matrix of shape (len(texts), n_themes)
        """
        import scipy.sparse as sp

        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not per_line:
            return sp.csr_matrix(np.log1p(self.vote_scores(texts, normalized)[:, :n_themes]))
        from policy_themes.text.lines import context_lines

        indptr, parts, lines = context_lines(texts)
        return sp.csr_matrix(self.line_vote_values(indptr, parts, self.vote_scores(lines),
                                                   n_themes))

    def line_vote_values(self, indptr: np.ndarray, parts: np.ndarray, line_scores: np.ndarray,
                         n_themes: int) -> np.ndarray:
        """``log1p`` of each context's summed line scores: context ``i`` adds up the rows
        ``parts[indptr[i]:indptr[i+1]]`` of ``line_scores`` (see
        :func:`~policy_themes.text.lines.context_lines`), in turn."""
        ones = np.ones(len(parts))
        summed = rows_product((indptr, parts, ones), line_scores[:, :n_themes])
        return np.log1p(summed)

    def vote_scores(self, texts: Sequence[str], normalized: str | np.ndarray | None = None
                    ) -> np.ndarray:
        """:meth:`theme_scores` of the :meth:`votes` of ``texts``."""
        return self.theme_scores(self.votes(texts, normalized)[0])

    def theme_first(self, first: np.ndarray) -> np.ndarray:
        """Earliest match position per theme: shape (n_texts, n_themes)."""
        out = np.full((first.shape[0], len(self.taxonomy.ids)), _NO_MATCH, dtype=np.int32)
        for j, theme in enumerate(self.rule_theme):
            np.minimum(out[:, theme], first[:, j], out=out[:, theme])
        return out


def rows_product(rows, weights: np.ndarray) -> np.ndarray:
    """``rows @ weights`` for sparse ``rows``: a dense array mostly of zeros, or the
    ``(indptr, indices, data)`` of a CSR matrix. Each row's products are added in turn in the
    order of its stored values (a dense row's: by column), as SciPy's product of the CSR matrix
    does, so the numbers are SciPy's bit for bit, without importing SciPy (a worker of
    ``predict`` never needs its sparse matrices) nor Numba (the kernels' ``add_products``
    would make a small ``label`` run load Numba: twice its time)."""
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if isinstance(rows, np.ndarray):
        rows = nonzero_rows(rows)
    indptr, indices, data = rows
    out = np.zeros((len(indptr) - 1, weights.shape[1]))
    row_of_value = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    np.add.at(out, row_of_value, np.asarray(data, dtype=np.float64)[:, None] * weights[indices])
    return out


def nonzero_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR arrays (``indptr``, ``indices``, ``data``: int32, int32, float64) of a dense
    2-D array's non-zero values, row by row and by column within a row, as
    ``scipy.sparse.csr_matrix(values)`` stores them."""
    mask = values != 0
    indptr = np.zeros(values.shape[0] + 1, dtype=np.int32)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(mask)[1].astype(np.int32)
    return indptr, indices, values[mask].astype(np.float64)


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
    texts: Sequence[str], taxonomy: Taxonomy, *, matcher: RuleMatcher | None = None,
    with_rules: bool = True,
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
    with_rules : bool, default=True
        List the rules that fired on each sentence (``rules_fired``); without it those lists
        are empty.

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
    fired = (_grouped(np.nonzero(counts), matcher.rule_names, len(counts)) if with_rules
             else [[] for _ in range(len(counts))])
    return LabelResult(themes, primary, fired, counts, scores, matcher.rule_names)


def _aggregate(scores: np.ndarray, theme_first: np.ndarray, ids: list[str]):
    """Theme sets (primary first, then by score, position, taxonomy order) and primary themes."""
    rows, columns = np.nonzero(scores > 0)
    order = np.lexsort((columns, theme_first[rows, columns], -scores[rows, columns], rows))
    themes = _grouped((rows[order], columns[order]), ids, len(scores))
    for row_themes in themes:
        if not row_themes:
            row_themes.append(NO_THEME)
    return themes, [row_themes[0] for row_themes in themes]


def _grouped(pairs: tuple[np.ndarray, np.ndarray], names: list[str], n_rows: int):
    """Per row, the names of its ``(row, column)`` pairs, in the pairs' order."""
    grouped: list[list[str]] = [[] for _ in range(n_rows)]
    for row, column in zip(pairs[0].tolist(), pairs[1].tolist()):
        grouped[row].append(names[column])
    return grouped
