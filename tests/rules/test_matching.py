"""The rules' one-pass matcher: the compiled automaton finds what pyahocorasick finds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_themes.rules.matching import KeyAutomaton, PatternMatcher

PATTERNS = ["gas", "gas pipeline*", "foreign polic*", "recogni*ed border*", "un|eu * summit*",
            "inviolability of * borders", "multi-vector", "côte d'ivoire", "über*", "u.n.",
            "東京", "re:\\bgas\\b", "a", "é"]
EXCLUDE = ["gas station*", "un summit"]
LETTERS = "aegilnoprstuvb ,.-'\n" + "éüôö東京😀"


def matches(matcher: PatternMatcher, texts: list[str]):
    patterns, exclusions, starts = matcher.find(texts)

    def rows(m):
        return sorted(zip(m.rule.tolist(), m.sentence.tolist(), m.start.tolist(),
                          m.end.tolist()))

    return rows(patterns), rows(exclusions), starts.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=LETTERS, max_size=60), max_size=6),
       st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=6, unique=True))
def test_the_compiled_automaton_finds_what_pyahocorasick_finds(texts, patterns):
    rules = [(patterns[: len(patterns) // 2 + 1], EXCLUDE), (patterns[len(patterns) // 2:], [])]
    assert matches(PatternMatcher(rules, compiled=True), texts) == \
        matches(PatternMatcher(rules, compiled=False), texts)


def test_matches_are_found_in_texts_beyond_ascii():
    texts = ["The Côte d'Ivoire gas pipelines.", "東京 and the UN extraordinary summit.",
             "Über-cautious 😀 foreign policies."]
    for compiled in (True, False):
        found, _, starts = matches(PatternMatcher([(PATTERNS, EXCLUDE)], compiled=compiled),
                                   texts)
        assert {row[1] for row in found} == {0, 1, 2}
        assert starts == [0, 34, 71]  # characters, not bytes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="ab é", min_size=1, max_size=4), min_size=1, max_size=8,
                unique=True),
       st.text(alphabet="ab é\n", max_size=80))
def test_key_automaton_hits_every_occurrence(keys, text):
    codes = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    ends, found = KeyAutomaton(keys).hits(codes)
    expected = sorted((start + len(key.encode()) - 1, number)
                      for number, key in enumerate(keys)
                      for start in range(len(codes))
                      if codes[start:start + len(key.encode())].tobytes() == key.encode())
    assert sorted(zip(ends.tolist(), found.tolist())) == expected
    assert list(ends) == sorted(ends)  # in text order


def test_more_hits_than_the_first_guess_of_room():
    text = " a" * 50_000 + " "  # 100,001 bytes: room for 7,274 hits at first
    ends, keys = KeyAutomaton([" a ", " a", "a"]).hits(np.frombuffer(text.encode(),
                                                                     dtype=np.uint8))
    assert np.bincount(keys).tolist() == [50_000, 50_000, 50_000]
    assert ends[keys == 0].tolist() == list(range(2, 100_001, 2))


@pytest.mark.parametrize("compiled", [True, False])
def test_a_matcher_without_phrases(compiled):
    found, _, starts = matches(PatternMatcher([(["re:\\bgas\\b"], [])], compiled=compiled),
                               ["gas here", "no"])
    assert [row[1] for row in found] == [0] and starts == [0, 11]


def test_a_taxonomy_too_big_for_the_table_is_scanned_by_pyahocorasick(monkeypatch):
    from policy_themes.rules import matching

    texts = ["The gas pipeline and the recognised borders.", "Foreign policies."]
    rules = [(PATTERNS, EXCLUDE)]
    assert PatternMatcher(rules, compiled=True).compiled
    monkeypatch.setattr(matching, "MAX_TABLE_CELLS", 100)
    big = PatternMatcher(rules, compiled=True)
    assert not big.compiled
    assert matches(big, texts) == matches(PatternMatcher(rules, compiled=False), texts)
