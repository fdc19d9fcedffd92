"""Suggest labeling rules from labeled sentences: for each theme, the words and phrases that
best separate its sentences from the others, as patterns in the taxonomy's rule syntax.

Candidates are every word 1-3-gram of the normalised sentences (the text the rules match:
lower case, punctuation as spaces) and every ``word*`` prefix that joins several words seen
(``tariff*`` for tariff, tariffs). They are ranked for each theme by the log-odds ratio of a
sentence having the theme with and without the phrase, with Jeffreys' prior (0.5 added to
each cell of the 2x2 table), divided by its standard error: a z-score, high for phrases both
frequent and precise. Phrases that start or end with an English stop word are left out. The
best candidates are then matched with the package's own rule matcher, so the precision
(share of the sentences a pattern matches that have the theme) and coverage (share of the
theme's sentences it matches) reported are exactly what the rule will do on that data; a
pattern is kept, in rank order, when its precision and matches reach the thresholds and at
least half of the theme's sentences it matches are not matched yet by the theme's existing
rules or the patterns kept before it.

Precision and coverage are measured on the sentences the patterns were chosen from, so they
are optimistic: expect less on new text.
"""

from __future__ import annotations

import bisect
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from policy_themes.errors import DataError
from policy_themes.rules.taxonomy import Rule, Taxonomy, load_taxonomy
from policy_themes.workflows.codebook import FIELDS_HELP, check_new_file, taxonomy_yaml, yaml_string

__all__ = ["RuleSuggestions", "suggest_rules", "suggest_rules_from_table"]

_TOKEN = r"(?u)[^\W_]+"  # a word of the normalised text: letters and digits
_MIN_PREFIX = 5          # shortest word offered as a ``word*`` prefix
_SHORTLIST = 40          # candidates per theme matched exactly before the greedy choice
_NEW_SHARE = 0.5         # share of a pattern's correct matches that must be new


@dataclass
class RuleSuggestions:
    """Patterns suggested for each theme, measured on the labeled sentences.

    Attributes
    ----------
    taxonomy : Taxonomy
        The taxonomy the suggestions are for (its existing rules are left as they are).
    table : DataFrame
        One row per suggested pattern, best first within a theme: ``theme``, ``pattern``,
        ``matches`` (sentences it matches), ``correct`` (of those, sentences with the theme),
        ``precision``, ``coverage`` (share of the theme's sentences matched) and ``z`` (the
        log-odds z-score it was ranked by).
    summary : DataFrame
        One row per theme (index ``theme``): ``labeled`` sentences, ``suggested`` patterns,
        and the coverage and precision of the theme's existing rules (``rules_coverage``,
        ``rules_precision``) and of those rules with the suggestions (``with_coverage``,
        ``with_precision``); NaN where nothing matches.
    source : str
        Where the labeled sentences came from.
    n_sentences : int
        How many there were.
    settings : dict
        ``per_theme``, ``min_precision``, ``min_matches``, ``max_words``.
    """

    taxonomy: Taxonomy
    table: pd.DataFrame
    summary: pd.DataFrame
    source: str = ""
    n_sentences: int = 0
    settings: dict = field(default_factory=dict)

    @property
    def rules(self) -> list[Rule]:
        """One rule per theme with suggestions, named ``<theme>_suggested`` (a number added when
        the taxonomy has that name already), its patterns best first."""
        taken = {rule.name for rule in self.taxonomy.rules}
        rules = []
        for theme, rows in self.table.groupby("theme", sort=False):
            name, number = f"{theme}_suggested", 2
            while name in taken:
                name, number = f"{theme}_suggested_{number}", number + 1
            taken.add(name)
            rules.append(Rule(name, str(theme), tuple(rows["pattern"])))
        return rules

    def with_rules(self) -> Taxonomy:
        """The taxonomy with the suggested rules added after each theme's own rules."""
        by_theme = {rule.theme: rule for rule in self.rules}
        themes = tuple(replace(t, rules=t.rules + (by_theme[t.id],)) if t.id in by_theme else t
                       for t in self.taxonomy.themes)
        return replace(self.taxonomy, themes=themes)

    def pattern_notes(self) -> dict[tuple[str, str], str]:
        """A comment per suggested pattern, by (rule name, pattern): its precision and coverage."""
        names = {rule.theme: rule.name for rule in self.rules}
        return {(names[row.theme], row.pattern): _pattern_note(row)
                for row in self.table.itertuples(index=False)}

    def to_yaml(self) -> str:
        """The suggested rules as YAML to paste under each theme's ``rules:`` in the taxonomy
        file, one commented block per theme, each pattern with its precision and coverage."""
        notes = self.pattern_notes()
        intro = (f"Rules suggested from {self.source or 'the labeled sentences'} "
                 f"({self.n_sentences:,} sentences). Keep the patterns that make sense, and "
                 "paste each rule under its theme's `rules:` in the taxonomy file. Precision "
                 "and coverage are measured on the sentences the patterns were chosen from: "
                 "expect less on new text. Unedited, they do not make a model trained on these "
                 "sentences better (docs/your-own-codebook.md).")
        lines = ["# " + line for line in textwrap.wrap(intro, width=92, break_long_words=False,
                                                        break_on_hyphens=False)]
        for rule in self.rules:
            theme = self.taxonomy.theme(rule.theme)
            lines += ["", f"# {theme.id} ({theme.name})",
                      f"- name: {rule.name}", "  patterns:"]
            lines += [f"    - {yaml_string(p)}   # {notes[(rule.name, p)]}" for p in rule.patterns]
        return "\n".join(lines) + "\n"


    def taxonomy_text(self) -> str:
        """The taxonomy with the suggested rules, as a YAML file (comments: each suggested
        pattern's precision and coverage)."""
        source = self.taxonomy.source or self.taxonomy.name
        intro = (f"Taxonomy {source} with the rules suggested by `policy-themes rules suggest` "
                 f"from {self.source or 'labeled sentences'} ({self.n_sentences:,} sentences); "
                 f"the comments of {Path(source).name} are not copied. The suggested rules end "
                 "in _suggested. Each pattern's comment gives its precision (share of the "
                 "sentences it matches that have the theme) and coverage (share of the theme's "
                 "sentences it matches) on those sentences, which is optimistic for new text: "
                 "delete the patterns that do not make sense (unedited, they do not make a "
                 "model trained on those sentences better). A model trained on those "
                 "sentences with these rules has optimistic cross-validated figures (the rules "
                 "were chosen on all of them): measure it on sentences held out.")
        header = "\n".join(textwrap.wrap(intro, width=94, break_long_words=False,
                                         break_on_hyphens=False)) + f"\n\n{FIELDS_HELP}"
        return taxonomy_yaml(self.with_rules(), header=header, pattern_notes=self.pattern_notes())

    def write_taxonomy(self, out: str | Path, *, overwrite: bool = False) -> Path:
        """Write :meth:`taxonomy_text` to ``out`` (atomically) and return the path.

        Raises
        ------
        DataError
            If ``out`` exists (and not ``overwrite``) or cannot be written.
        """
        from policy_themes.io.writers import atomic_write_text

        out = Path(out)
        check_new_file(out, overwrite=overwrite)
        atomic_write_text(out, self.taxonomy_text())
        return out


def _pattern_note(row) -> str:
    return (f"precision {row.precision:.2f} ({row.correct} of {row.matches}), "
            f"coverage {row.coverage:.2f}")


def suggest_rules(texts: Sequence[str], themes: Sequence[Sequence[str]], taxonomy: Taxonomy, *,
                  per_theme: int = 5, min_precision: float = 0.7, min_matches: int = 3,
                  max_words: int = 3, source: str = "") -> RuleSuggestions:
    """Suggest, for each theme, the patterns that best separate its sentences from the others.

    Parameters
    ----------
    texts : sequence of str
        Labeled sentences.
    themes : sequence of sequence of str
        Each sentence's theme ids (a sentence has a theme when it is anywhere in its list).
    taxonomy : Taxonomy
        The taxonomy of the labels; patterns its rules for a theme already match are not
        suggested again.
    per_theme : int, default=5
        Most patterns suggested per theme.
    min_precision : float, default=0.7
        Least precision of a pattern on the labeled sentences.
    min_matches : int, default=3
        Least sentences with the theme a pattern must match.
    max_words : int, default=3
        Longest phrase, in words.
    source : str, default=""
        Where the sentences came from, for the YAML's comment.

    Returns
    -------
    RuleSuggestions

    Raises
    ------
    DataError
        If a setting is out of range, or the lists differ in length.

    Examples
    --------
    >>> from policy_themes.rules.taxonomy import Taxonomy, Theme
    >>> taxonomy = Taxonomy((Theme("energy", "Energy", ""), Theme("trade", "Trade", ""),
    ...                      Theme("none", "No theme", "")))
    >>> texts = ["Gas prices rose.", "A new gas pipeline.", "Gas supply talks.", "A trade deal."]
    >>> labels = [["energy"]] * 3 + [["trade"]]
    >>> suggest_rules(texts, labels, taxonomy, min_matches=2).table["pattern"].tolist()
    ['gas']
    """
    _check_settings(per_theme, min_precision, min_matches, max_words)
    texts = [str(t) for t in texts]
    if len(texts) != len(themes):
        raise DataError(f"{len(texts)} texts but {len(themes)} theme lists")
    truth = _membership(themes, taxonomy.theme_ids)
    candidates, names = _candidate_matrix(texts, min_matches, max_words)
    shortlist = _shortlists(candidates, names, truth, min_precision, min_matches)
    settings = {"per_theme": per_theme, "min_precision": min_precision,
                "min_matches": min_matches, "max_words": max_words}
    table, summary = _choose_patterns(texts, truth, taxonomy, shortlist, settings)
    return RuleSuggestions(taxonomy, table, summary, source, len(texts), settings)


def _choose_patterns(texts, truth, taxonomy, shortlist, settings
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each theme's patterns from its shortlist (matched exactly), and the theme summary."""
    patterns = sorted({p for theme_list in shortlist for p, _ in theme_list})
    fires = _pattern_fires(texts, patterns)
    existing = _existing_fires(texts, taxonomy)
    rows, summary = [], []
    for j, theme_id in enumerate(taxonomy.theme_ids):
        own = {p for rule in taxonomy.theme(theme_id).rules for p in rule.patterns}
        chosen = _choose(shortlist[j], fires, patterns, truth[:, j], existing[:, j], own,
                         per_theme=settings["per_theme"],
                         min_precision=settings["min_precision"],
                         min_matches=settings["min_matches"])
        rows += [{"theme": theme_id, **row} for row in chosen]
        summary.append(_theme_summary(theme_id, truth[:, j], existing[:, j], chosen, fires,
                                      patterns))
    table = pd.DataFrame(rows, columns=["theme", "pattern", "matches", "correct", "precision",
                                        "coverage", "z"])
    return table, pd.DataFrame(summary).set_index("theme")


def suggest_rules_from_table(path: str | Path, taxonomy: str | Path | Taxonomy | None = None,
                             *, text_column: str = "text", label_column: str | None = None,
                             encoding: str | None = None, per_theme: int = 5,
                             min_precision: float = 0.7, min_matches: int = 3,
                             max_words: int = 3) -> RuleSuggestions:
    """Read a labeled table and :func:`suggest_rules` from it.

    Parameters
    ----------
    path : str or Path
        The labeled table (text + themes; labels may be theme ids or names).
    taxonomy : str, Path or Taxonomy, default=None
        The taxonomy of its labels; None takes the shipped default.
    text_column, label_column, encoding
        As for :func:`~policy_themes.io.labels.read_labeled`.
    per_theme, min_precision, min_matches, max_words
        As for :func:`suggest_rules`.

    Returns
    -------
    RuleSuggestions

    Raises
    ------
    ConfigError
        If the taxonomy is invalid.
    DataError
        If the table is unreadable or has a label the taxonomy does not know.
    """
    from policy_themes.io.labels import read_labeled

    taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    _check_settings(per_theme, min_precision, min_matches, max_words)
    frame = read_labeled(path, taxonomy, text_column=text_column, label_column=label_column,
                         encoding=encoding)
    return suggest_rules(frame["text"].tolist(), frame["themes"].tolist(), taxonomy,
                         per_theme=per_theme, min_precision=min_precision,
                         min_matches=min_matches, max_words=max_words, source=str(path))


def _check_settings(per_theme, min_precision, min_matches, max_words) -> None:
    if per_theme < 1:
        raise DataError(f"per_theme must be at least 1, got {per_theme}")
    if not 0.0 <= min_precision <= 1.0:
        raise DataError(f"min_precision must be between 0 and 1, got {min_precision}")
    if min_matches < 1:
        raise DataError(f"min_matches must be at least 1, got {min_matches}")
    if not 1 <= max_words <= 5:
        raise DataError(f"max_words must be between 1 and 5, got {max_words}")


def _membership(themes: Sequence[Sequence[str]], ids: list[str]) -> np.ndarray:
    """Bool matrix (n_sentences, n_themes): whether each sentence has each theme."""
    index = {theme_id: j for j, theme_id in enumerate(ids)}
    truth = np.zeros((len(themes), len(ids)), dtype=bool)
    for i, row in enumerate(themes):
        for theme in row:
            if theme in index:
                truth[i, index[theme]] = True
    return truth


def _normalised(texts: list[str]) -> list[str]:
    """The texts as the rules see them (one line per text)."""
    from policy_themes.rules.matching import normalize_batch

    return normalize_batch(texts).split("\n") if texts else []


def _candidate_matrix(texts: list[str], min_matches: int, max_words: int
                      ) -> tuple[sparse.csc_matrix, list[str]]:
    """Binary (n_sentences, n_candidates) matrix of the phrases and ``word*`` prefixes."""
    lines = _normalised(texts)
    x_phrases, names = _binary_terms(lines, ngram_range=(1, max_words), min_df=min_matches)
    keep = [i for i, name in enumerate(names) if _useful_phrase(name)]
    x_words, words = _binary_terms(lines, ngram_range=(1, 1), min_df=1)
    groups, prefixes = _prefix_groups(words)
    x_prefix = (x_words @ groups > 0).astype(np.int32)
    matrix = sparse.hstack([x_phrases[:, keep], x_prefix]).tocsc()
    return matrix, [names[i] for i in keep] + [f"{p}*" for p in prefixes]


def _binary_terms(lines: list[str], *, ngram_range: tuple[int, int], min_df: int
                  ) -> tuple[sparse.csr_matrix, list[str]]:
    """Which word n-grams each line holds, those in at least ``min_df`` lines."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(token_pattern=_TOKEN, lowercase=False, binary=True,
                                 ngram_range=ngram_range, min_df=min_df, dtype=np.int32)
    try:
        matrix = vectorizer.fit_transform(lines)
    except ValueError:  # no n-gram in min_df lines, or no word at all
        return sparse.csr_matrix((len(lines), 0), dtype=np.int32), []
    return matrix, vectorizer.get_feature_names_out().tolist()


def _useful_phrase(phrase: str) -> bool:
    """Whether a phrase may be a pattern: no stop word, number or letter at either end."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = phrase.split()
    return all(len(w) > 1 and not w.isdigit() and w not in ENGLISH_STOP_WORDS
               for w in (words[0], words[-1]))


def _prefix_groups(vocabulary: list[str]) -> tuple[sparse.csc_matrix, list[str]]:
    """For each word that starts at least one other word seen, the words it starts: an
    indicator matrix (n_words, n_prefixes) and the prefixes."""
    order = sorted(range(len(vocabulary)), key=vocabulary.__getitem__)
    ordered = [vocabulary[i] for i in order]
    rows, cols, prefixes = [], [], []
    for start, word in enumerate(ordered):
        if len(word) < _MIN_PREFIX or not word.isalpha() or not _useful_phrase(word):
            continue
        end = bisect.bisect_left(ordered, word + "\U0010ffff", lo=start)
        if end - start < 2:
            continue
        rows += [order[k] for k in range(start, end)]
        cols += [len(prefixes)] * (end - start)
        prefixes.append(word)
    groups = sparse.csc_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                               shape=(len(vocabulary), len(prefixes)))
    return groups, prefixes


def _shortlists(candidates: sparse.csc_matrix, names: list[str], truth: np.ndarray,
                min_precision: float, min_matches: int) -> list[list[tuple[str, float]]]:
    """Per theme, the best candidates by log-odds z-score that pass the thresholds."""
    n = candidates.shape[0]
    matches = np.asarray(candidates.sum(axis=0)).ravel().astype(float)
    correct_all = np.asarray((sparse.csr_matrix(truth.T.astype(np.int32)) @ candidates)
                             .todense()).astype(float)
    lists = []
    for j in range(truth.shape[1]):
        correct = correct_all[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(matches > 0, correct / matches, 0.0)
        z = _log_odds_z(correct, matches - correct, truth[:, j].sum(), n)
        ok = np.flatnonzero((correct >= min_matches) & (precision >= min_precision))
        best = ok[np.argsort(-z[ok], kind="stable")][:_SHORTLIST]
        lists.append([(names[i], float(z[i])) for i in best])
    return lists


def _log_odds_z(correct: np.ndarray, wrong: np.ndarray, positives: int, n: int) -> np.ndarray:
    """z-score of the log-odds ratio of having the theme with and without the phrase, with
    Jeffreys' prior (0.5 in each cell of the 2x2 table)."""
    a, b = correct + 0.5, wrong + 0.5
    c, d = positives - correct + 0.5, (n - positives) - wrong + 0.5
    return (np.log(a / c) - np.log(b / d)) / np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)


def _pattern_fires(texts: list[str], patterns: list[str]) -> sparse.csc_matrix:
    """Bool (n_sentences, n_patterns): where each pattern matches, by the rules' own matcher."""
    from policy_themes.rules.matching import PatternMatcher

    shape = (len(texts), len(patterns))
    if not patterns or not texts:
        return sparse.csc_matrix(shape, dtype=bool)
    matches, _, _ = PatternMatcher([([p], []) for p in patterns]).find(texts)
    data = np.ones(len(matches.rule), dtype=bool)
    fires = sparse.csc_matrix((data, (matches.sentence, matches.rule)), shape=shape)
    fires.sum_duplicates()
    return fires.astype(bool)


def _existing_fires(texts: list[str], taxonomy: Taxonomy) -> np.ndarray:
    """Bool (n_sentences, n_themes without none): where the taxonomy's rules vote for each."""
    from policy_themes.rules.labeling import RuleMatcher

    if not taxonomy.rules:
        return np.zeros((len(texts), len(taxonomy.theme_ids)), dtype=bool)
    matcher = RuleMatcher(taxonomy)
    scores = matcher.theme_scores(matcher.votes(texts)[0])
    keep = [taxonomy.ids.index(t) for t in taxonomy.theme_ids]
    return scores[:, keep] > 0


def _choose(shortlist, fires, patterns, truth, covered, own, *, per_theme, min_precision,
            min_matches) -> list[dict]:
    """Keep candidates in rank order while they add enough new correct matches."""
    index = {p: k for k, p in enumerate(patterns)}
    covered = covered & truth
    positives = max(int(truth.sum()), 1)
    chosen: list[dict] = []
    for pattern, z in shortlist:
        if len(chosen) == per_theme:
            break
        if pattern in own:
            continue
        hit = fires[:, index[pattern]].toarray().ravel()
        correct_rows = hit & truth
        matches, correct = int(hit.sum()), int(correct_rows.sum())
        if correct < min_matches or correct < min_precision * matches:
            continue
        if (correct_rows & ~covered).sum() < max(1, _NEW_SHARE * correct):
            continue
        covered = covered | correct_rows
        chosen.append({"pattern": pattern, "matches": matches, "correct": correct,
                       "precision": correct / matches, "coverage": correct / positives,
                       "z": z})
    return chosen


def _theme_summary(theme_id, truth, existing, chosen, fires, patterns) -> dict:
    """Coverage and precision of a theme's rules, without and with its suggestions."""
    index = {p: k for k, p in enumerate(patterns)}
    added = existing.copy()
    for row in chosen:
        added |= fires[:, index[row["pattern"]]].toarray().ravel()
    positives = int(truth.sum())
    figures = {"theme": theme_id, "labeled": positives, "suggested": len(chosen)}
    for name, fired in (("rules", existing), ("with", added)):
        figures[f"{name}_coverage"] = (fired & truth).sum() / positives if positives else np.nan
        figures[f"{name}_precision"] = (fired & truth).sum() / fired.sum() if fired.any() \
            else np.nan
    return figures
