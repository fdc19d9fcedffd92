"""Find every rule's pattern matches in a batch of sentences with one pass of Aho-Corasick.

Matching happens on *normalised* text: lower case, every run of characters other than letters and
digits replaced by one space, each sentence padded with a space at both ends. A phrase pattern is
normalised the same way, so ``U.N.`` matches ``u n`` and word boundaries are spaces. Each phrase
gives an Aho-Corasick key (its literal text up to the first ``*``); a key without a wildcard, or
whose only wildcard ends the phrase, is a match by itself, any other is checked with a small
anchored regex. ``re:`` patterns are regular expressions that see one normalised sentence.

Every regular expression, a rule's own and those that confirm wildcard phrases, runs on RE2
(``google-re2``), whose time is linear in the text: no pattern can make matching hang, and one
that RE2 cannot run (backreferences, lookarounds) is refused when the taxonomy is loaded. A
``re:`` pattern is compiled so that it never matches a line feed, with ``^`` and ``$`` at each
line's start and end: run once over the batch, each of its matches lies within one sentence and
is the match it has in that sentence alone.

One automaton pass over the batch replaces one regex scan per rule, which is what lets the rules
label an archive of a million sentences in a couple of minutes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from policy_themes.rules.patterns import Regex, compile_rule_regex, phrase_keys, phrase_variants

__all__ = ["normalize_text", "normalize_batch", "normalize_batch_bytes", "PatternMatcher",
           "Matches", "drop_excluded", "PatternError"]


_NON_WORD = re.compile(r"(?:[^\w\n]|_)+")


_SEPARATOR = "\n"


def normalize_text(text: str) -> str:
    """Lower-case ``text`` and replace every run of non-alphanumeric characters by one space.

    The result is padded with a space at both ends; line breaks become spaces.

    Examples
    --------
    >>> normalize_text("The U.N.'s multi-vector  policy!")
    ' the u n s multi vector policy '
    """
    return " " + _NON_WORD.sub(" ", str(text).lower().replace("\n", " ")).strip() + " "


def normalize_batch(texts: Sequence[str]) -> str:
    """Normalise a batch of texts like :func:`normalize_text`, as one string, ``"\\n"`` between.

    Line breaks inside a text become spaces, so the i-th line of the result is the i-th text.

    Examples
    --------
    >>> normalize_batch(["The U.N.'s policy!", "Gas"])
    ' the u n s policy \\n gas '
    """
    return normalize_batch_bytes(texts).tobytes().decode("utf-8")


def normalize_batch_bytes(texts: Sequence[str]) -> np.ndarray:
    """:func:`normalize_batch` as UTF-8 bytes (a uint8 array), computed with array operations.

    ASCII bytes go through a lookup table; characters of two or three UTF-8 bytes (the Basic
    Multilingual Plane) are decoded with array operations and blanked unless they are letters or
    digits; the rare text with characters beyond it goes through the Unicode-aware regex first.
    The result is the same as the regex over the whole batch.
    """
    pieces = [str(t).lower().replace("\n", " ") for t in texts]
    raw = np.frombuffer(" \n ".join(pieces).encode("utf-8"), dtype=np.uint8)
    if raw.size and raw.max() >= 0xF0:  # a character of four UTF-8 bytes somewhere
        pieces = [_NON_WORD.sub(" ", t) if not t.isascii() and max(t) > "\uffff" else t
                  for t in pieces]
        raw = np.frombuffer(" \n ".join(pieces).encode("utf-8"), dtype=np.uint8)
    codes = np.empty(len(raw) + 2, dtype=np.uint8)
    codes[0] = codes[-1] = _SPACE_BYTE
    codes[1:-1] = _ASCII_TABLE[raw]
    _blank_non_alphanumeric(codes)
    is_space = codes[1:-1] == _SPACE_BYTE
    # a run of spaces keeps its first (the padding is outside the runs)
    keep = np.ones(len(codes), dtype=bool)
    keep[2:-1] = ~(is_space[1:] & is_space[:-1])
    return codes[keep]


def _blank_non_alphanumeric(codes: np.ndarray) -> None:
    """Turn every byte of a two- or three-byte character that is not alphanumeric into a space.

    Four-byte characters are left alone: their texts were normalised by the regex already.
    """
    leads = np.flatnonzero(codes >= 0xC0)
    if leads.size == 0:
        return
    leads = leads[codes[leads] < 0xF0]
    first = codes[leads].astype(np.int64)
    second = codes[leads + 1].astype(np.int64) & 0x3F
    two = first < 0xE0
    point = np.where(two, (first & 0x1F) << 6 | second, 0)
    three = np.flatnonzero(~two)
    third = codes[leads[three] + 2].astype(np.int64) & 0x3F
    point[three] = (first[three] & 0x0F) << 12 | second[three] << 6 | third
    blank = ~_bmp_alphanumeric()[point]
    for offset in range(3):
        at = leads[blank & ((offset < 2) | ~two)] + offset
        codes[at] = _SPACE_BYTE


def _bmp_alphanumeric() -> np.ndarray:
    """Whether each character of the Basic Multilingual Plane is a letter or digit (``\\w``
    without ``_``), built on first use."""
    global _BMP_ALPHANUMERIC
    if _BMP_ALPHANUMERIC is None:
        _BMP_ALPHANUMERIC = np.array([chr(c).isalnum() for c in range(0x10000)], dtype=bool)
    return _BMP_ALPHANUMERIC


_BMP_ALPHANUMERIC: np.ndarray | None = None


def _ascii_table() -> np.ndarray:
    """Byte → byte: ASCII letters and digits kept (lower case), line feed kept, other ASCII
    bytes → space, bytes of non-ASCII characters kept."""
    table = np.arange(256, dtype=np.uint8)
    for code in range(128):
        char = chr(code)
        if not (char.isalnum() or char == "\n"):
            table[code] = ord(" ")
    return table


_SPACE_BYTE = ord(" ")


_ASCII_TABLE = _ascii_table()


@dataclass
class Matches:
    """Pattern matches of a batch: rule index, sentence index, start and end (normalised text)."""

    rule: np.ndarray
    sentence: np.ndarray
    start: np.ndarray
    end: np.ndarray


def _exact_lines(codes: np.ndarray) -> np.ndarray:
    """A normalised batch whose every line is what :func:`normalize_text` gives its text alone.

    :func:`normalize_batch_bytes` keeps the space that pads the batch apart from a run of
    spaces beside it, so the first and last texts of a batch can start or end with two spaces
    (``"a."`` last is ``" a  "``, alone ``" a "``), and a text without words inside a batch is
    one space, alone two: a rule that sees one sentence must see the same one in any batch.
    Here every run of spaces is one, and a line without words two spaces.
    """
    space = codes == _SPACE_BYTE
    doubled = space[1:] & space[:-1]
    if doubled.any():
        keep = np.ones(len(codes), dtype=bool)
        keep[1:] = ~doubled
        codes = codes[keep]
    bounds = np.concatenate(([-1], np.flatnonzero(codes == 10), [len(codes)]))
    wordless = np.flatnonzero(np.diff(bounds) == 2)  # a line of one space
    if wordless.size:
        codes = np.insert(codes, bounds[wordless] + 1, _SPACE_BYTE)
    return codes


def _characters(offsets: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
    """Byte offsets (sorted) as character offsets, ``extra`` being the bytes that continue a
    character (None: one byte each)."""
    offsets = offsets.astype(np.int64)
    if extra is None or not len(extra):
        return offsets
    return offsets - np.searchsorted(extra, offsets)


class PatternError(ValueError):
    """A pattern that cannot be matched: ``rule`` is the index of its rule, ``pattern`` the
    pattern."""

    def __init__(self, message: str, *, rule: int, pattern: str):
        super().__init__(message)
        self.rule = rule
        self.pattern = pattern


class PatternMatcher:
    """Match the patterns and exclusions of many rules in one pass.

    Parameters
    ----------
    rules : sequence of (patterns, exclude) pairs
        Each rule's pattern strings and exclusion strings.

    Raises
    ------
    PatternError
        If a pattern cannot be matched (see :func:`compile_rule_regex`, :func:`phrase_keys`).
    """

    def __init__(self, rules: Sequence[tuple[Sequence[str], Sequence[str]]]):
        self.n_rules = len(rules)
        keys: dict[str, list[tuple[int, bool, int, Regex | None]]] = {}
        self._regexes: list[tuple[int, bool, Regex]] = []
        for index, (patterns, exclude) in enumerate(rules):
            for is_exclusion, group in ((False, patterns), (True, exclude)):
                for pattern in group:
                    try:
                        self._add(pattern, index, is_exclusion, keys)
                    except ValueError as exc:
                        raise PatternError(str(exc), rule=index, pattern=pattern) from None
        # each key's entries, as arrays: rule, exclusion, key length (characters), verifier
        entries = [entry for key_entries in keys.values() for entry in key_entries]
        self._verifiers = list(dict.fromkeys(e[3] for e in entries if e[3] is not None))
        verifier_index = {v: i for i, v in enumerate(self._verifiers)}
        self._entry_indptr = np.zeros(len(keys) + 1, dtype=np.int64)
        self._entry_indptr[1:] = np.cumsum([len(e) for e in keys.values()])
        self._entry_rule = np.array([e[0] for e in entries], dtype=np.int64)
        self._entry_exclusion = np.array([e[1] for e in entries], dtype=bool)
        self._entry_length = np.array([e[2] for e in entries], dtype=np.int64)
        self._entry_verifier = np.array([-1 if e[3] is None else verifier_index[e[3]]
                                         for e in entries], dtype=np.int64)
        self._keys = list(keys)
        self._automaton = None  # built on first use

    def _add(self, pattern: str, rule: int, exclusion: bool, keys: dict) -> None:
        if pattern.startswith("re:"):
            self._regexes.append((rule, exclusion, compile_rule_regex(pattern[3:])))
            return
        for normalised in phrase_variants(pattern):
            for key, verifier in phrase_keys(normalised):
                keys.setdefault(key, []).append((rule, exclusion, len(key), verifier))

    def find(self, texts: Sequence[str], normalized: str | np.ndarray | None = None
             ) -> tuple[Matches, Matches, np.ndarray]:
        """Find pattern and exclusion matches in a batch (``normalized``: the batch's
        :func:`normalize_batch`, or its :func:`normalize_batch_bytes`, when the caller has it
        already).

        Returns
        -------
        patterns : Matches
            Pattern matches.
        exclusions : Matches
            Exclusion matches.
        starts : ndarray
            Start of each sentence in the normalised batch.
        """
        if normalized is None:  # as bytes: normalize_batch would decode them, to be encoded here
            normalized = normalize_batch_bytes(texts)
        if not isinstance(normalized, np.ndarray):
            normalized = np.frombuffer(normalized.encode("utf-8"), dtype=np.uint8)
        codes = _exact_lines(normalized)
        joined = codes.tobytes().decode("utf-8")
        # where characters take several bytes: the bytes that continue a character
        extra = None if len(codes) == len(joined) else np.flatnonzero((codes & 0xC0) == 0x80)
        starts = np.concatenate(([0], _characters(np.flatnonzero(codes == 10), extra) + 1))
        rule, exclusion, start, end = self._key_matches(joined, codes, extra)
        for regex_rule, regex_exclusion, regex in self._regexes:
            # over the bytes: RE2 reads UTF-8, and would encode a str again at every match;
            # re2's finditer can give an empty match twice (found from before it, then from
            # it): once, as re's
            spans = [span for span, _ in itertools.groupby(m.span() for m in regex.finditer(codes))]
            if spans:
                found = _characters(np.array(spans, dtype=np.int64).ravel(), extra)
                rule = np.concatenate([rule, np.full(len(spans), regex_rule)])
                exclusion = np.concatenate([exclusion, np.full(len(spans), regex_exclusion)])
                start = np.concatenate([start, found[0::2]])
                end = np.concatenate([end, found[1::2]])
        return (self._as_matches(rule[~exclusion], start[~exclusion], end[~exclusion], starts),
                self._as_matches(rule[exclusion], start[exclusion], end[exclusion], starts),
                starts)

    def _key_matches(self, joined: str, codes: np.ndarray, extra: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rule, exclusion flag, start and end (characters) of each match of a key's entry,
        confirmed by its verifier where it has one: in text order."""
        if not self._keys:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0, dtype=bool), empty, empty
        ends, keys = self._hits(joined)
        first = self._entry_indptr[keys]
        counts = self._entry_indptr[keys + 1] - first
        hit = np.repeat(np.arange(len(keys)), counts)
        # the entries of each hit's key, one after the other
        entry = first[hit] + np.arange(len(hit)) - np.repeat(np.cumsum(counts) - counts, counts)
        end = ends[hit] + 1
        start = end - self._entry_length[entry]  # the space before the phrase
        verifier = self._entry_verifier[entry]
        keep = verifier < 0
        check = np.flatnonzero(~keep)
        if check.size:
            self._verify(check, verifier[check], start, end, keep, codes, extra)
        return (self._entry_rule[entry][keep], self._entry_exclusion[entry][keep],
                start[keep] + 1, end[keep])

    def _verify(self, check: np.ndarray, verifier: np.ndarray, start: np.ndarray,
                end: np.ndarray, keep: np.ndarray, codes: np.ndarray,
                extra: np.ndarray | None) -> None:
        """Confirm the hits ``check`` with their verifiers, anchored at the space before the
        phrase (``start``, characters), over the bytes; set ``keep`` and ``end`` of those
        confirmed."""
        at = start[check]
        if extra is not None and len(extra):  # characters -> bytes: where each character starts
            at = np.flatnonzero((codes & 0xC0) != 0x80)[at]
        verifiers = self._verifiers
        confirmed, ends = [], []
        for i, v, byte in zip(check.tolist(), verifier.tolist(), at.tolist()):
            match = verifiers[v].match(codes, byte)
            if match is not None:
                confirmed.append(i)
                ends.append(match.end() - 1)  # the match takes the space after the phrase
        if confirmed:
            keep[confirmed] = True
            end[confirmed] = _characters(np.array(ends, dtype=np.int64), extra)

    def _hits(self, joined: str) -> tuple[np.ndarray, np.ndarray]:
        """The character where each occurrence of a key ends (inclusive) and the key's index,
        in text order."""
        if self._automaton is None:
            import ahocorasick

            self._automaton = ahocorasick.Automaton()
            for number, key in enumerate(self._keys):
                self._automaton.add_word(key, number)
            self._automaton.make_automaton()
        found = np.array(list(self._automaton.iter(joined)), dtype=np.int64).reshape(-1, 2)
        return found[:, 0], found[:, 1]

    @staticmethod
    def _as_matches(rule: np.ndarray, start: np.ndarray, end: np.ndarray,
                    starts: np.ndarray) -> Matches:
        sentence = np.searchsorted(starts, start, side="right") - 1
        return Matches(rule.astype(np.int64), sentence, start.astype(np.int64),
                       end.astype(np.int64))


def drop_excluded(patterns: Matches, exclusions: Matches) -> np.ndarray:
    """Boolean mask of the pattern matches that no exclusion match of the same rule overlaps."""
    keep = np.ones(len(patterns.rule), dtype=bool)
    if len(exclusions.rule) == 0:
        return keep
    for rule in np.unique(exclusions.rule):
        ex = exclusions.rule == rule
        order = np.argsort(exclusions.start[ex], kind="stable")
        ex_start = exclusions.start[ex][order]
        ex_end_max = np.maximum.accumulate(exclusions.end[ex][order])
        mine = np.flatnonzero(patterns.rule == rule)
        if mine.size == 0:
            continue
        # the exclusions starting before a match ends overlap it if any of them ends after it starts
        last = np.searchsorted(ex_start, patterns.end[mine], side="left") - 1
        overlapped = (last >= 0) & (ex_end_max[np.maximum(last, 0)] > patterns.start[mine])
        keep[mine[overlapped]] = False
    return keep
