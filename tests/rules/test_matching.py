"""The rules' one-pass matcher: every occurrence of a phrase, in characters of each sentence."""

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_themes.rules.matching import PatternMatcher, normalize_text

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


LITERALS = ["gas", "gas pipeline", "foreign policy", "a", "é", "côte d'ivoire", "u.n.", "a a"]


def occurrences(needle: str, haystack: str) -> int:
    return sum(haystack.startswith(needle, i) for i in range(len(haystack)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=LETTERS, max_size=60), max_size=6),
       st.lists(st.sampled_from(LITERALS), min_size=1, max_size=4, unique=True))
def test_every_occurrence_of_a_literal_phrase_is_a_match(texts, patterns):
    found, _, _ = matches(PatternMatcher([([pattern], []) for pattern in patterns]), texts)
    for rule, pattern in enumerate(patterns):
        key = normalize_text(pattern)
        for sentence, text in enumerate(texts):
            want = occurrences(key, normalize_text(text))
            got = sum(1 for row in found if row[:2] == (rule, sentence))
            assert got == want, (pattern, text)


def test_matches_are_found_in_texts_beyond_ascii():
    texts = ["The Côte d'Ivoire gas pipelines.", "東京 and the UN extraordinary summit.",
             "Über-cautious 😀 foreign policies."]
    found, _, starts = matches(PatternMatcher([(PATTERNS, EXCLUDE)]), texts)
    assert {row[1] for row in found} == {0, 1, 2}
    assert starts == [0, 34, 71]  # characters, not bytes


def test_a_matcher_without_phrases():
    found, _, starts = matches(PatternMatcher([(["re:\\bgas\\b"], [])]), ["gas here", "no"])
    assert [row[1] for row in found] == [0] and starts == [0, 11]
