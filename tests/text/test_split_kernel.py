"""The compiled splitter against the Python one it rewrites: random texts built from the pieces
every rule looks at, real speeches, and the facts about Unicode its character table rests on."""

import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_themes.text import sentences
from policy_themes.text.sentences import (
    _BEFORE_NUMBER,
    _SENTENCE_STARTERS,
    _TITLES,
    document_spans,
    sentence_spans,
)
from policy_themes.text.split_kernel import (
    DECIMAL,
    LINE_BREAK,
    SPACE,
    TABLE_SIZE,
    character_table,
    packed_words,
)

WORDS = sorted(_TITLES | _BEFORE_NUMBER | _SENTENCE_STARTERS)
PIECES = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(str.capitalize),
    st.sampled_from(WORDS).map(str.upper),
    # punctuation, closers and openers, bullets, acronyms and numbers
    st.sampled_from([".", "!", "?", "\u2026", "...", "?!", ".\"", ".')", ".\u201d", "\"",
                     "'", "(", "[", "\u201c", "\u2018", ")", "]", "\u2019", "-", ",", "\u2022",
                     "*", "\u00b7", "\u2014", "1.", "(2)", "12)", "a)", "(b)", "U.S.", "u.n",
                     "e.g.", "No.", "2.5%", "A", "x", "7", "\u0663", "\u00b2"]),
    # white space and line breaks of every kind
    st.sampled_from([" ", " ", "  ", "\t", "\n", "\n", "\n\n", "\r\n", "\r", "\x0b", "\x0c",
                     "\x1c", "\x85", "\u2028", "\u2029", "\u00a0", "\u2003", "\n \n"]),
    # letters whose case or lower case is not ASCII: an accent, sharp s, dotted I, Kelvin
    # sign, sigma; and characters that are not printable
    st.sampled_from(["\u00c9t\u00e9", "\u00df", "\u0130", "\u0130stanbul", "\u212a", "\u03a3",
                     "\u00e9", "\u00c9", "Stra\u00dfe", "\x00", "\x07", "\u200b", "\ud800"]),
    st.text(alphabet="abcXYZ.- \n", min_size=1, max_size=12),
    # long lines: hard-wrapped prose
    st.integers(min_value=40, max_value=80).map(lambda n: "w" * n),
)
TEXTS = st.lists(PIECES, max_size=60).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_the_compiled_splitter_gives_the_python_splitters_sentences(text):
    assert sentence_spans(text, compiled=True) == sentence_spans(text)


@pytest.mark.parametrize("text", [
    "Aid reached the U.S. [The talks went on.] And then U.S. \u201cThe end\u201d",
    # a line exactly three quarters as wide as the widest ends a unit before a capital
    "w" * 80 + "\n" + "v" * 60 + "\nTrade grew.\n" + "x" * 59 + "\nTalks began.\n" + "y" * 61
    + "\nAnd more.",
    "Mr?. Smith came. Was it Mr.\u2026 Jones? No. 5 was. The \u212a. Then the end.",
    "1. First item\n(2) Second item\n12) Third\na) Fourth\n(b) Fifth\n123. Not a bullet",
    "He left. \"(\" And then?\u201d ( The end",
])
def test_edge_cases_give_the_same_sentences(text):
    assert sentence_spans(text, compiled=True) == sentence_spans(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_the_same_sentences(text):
    assert sentence_spans(text, compiled=True) == sentence_spans(text)


def test_more_sentences_than_the_first_guess_of_room_are_all_found():
    text = "Go. " * 5000  # 5,000 sentences of 3 characters: room was guessed for 689
    assert sentence_spans(text, compiled=True) == sentence_spans(text)
    assert len(sentence_spans(text, compiled=True)) == 5000


def test_a_very_long_text_is_left_to_python(monkeypatch):
    text = "Talks began. Trade grew. " * 10
    assert sentences._compiled_columns(text) is not None
    monkeypatch.setattr(sentences, "COMPILED_MAX_CHARS", len(text) - 1)
    assert sentences._compiled_columns(text) is None
    assert sentence_spans(text, compiled=True) == sentence_spans(text)


def test_a_character_beyond_the_table_leaves_the_text_to_python():
    text = "Talks began \U0001F600. Trade grew in the U.S. The end"
    assert sentences._compiled_columns(text) is None
    assert sentence_spans(text, compiled=True) == sentence_spans(text)
    assert len(sentence_spans(text)) == 3


def test_what_the_table_rests_on_holds_for_every_character():
    """The regexes' \\s and \\d are str.isspace and str.isdecimal, and splitlines breaks where
    the table says, for every character the table covers."""
    flags, _ = character_table()
    space, digit = re.compile(r"\s"), re.compile(r"\d")
    for code in range(TABLE_SIZE):
        char = chr(code)
        assert bool(space.match(char)) == bool(flags[code] & SPACE) == char.isspace()
        assert bool(digit.match(char)) == bool(flags[code] & DECIMAL)
    # the line boundaries str.splitlines documents
    assert [code for code in range(TABLE_SIZE) if flags[code] & LINE_BREAK] == [
        0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]


def test_word_lists_are_packed_ascii_words():
    packed = packed_words(["mr", "furthermore"])
    assert packed.shape == (2, 2)
    assert packed[0, 0] == ord("m") | ord("r") << 8 and packed[0, 1] == 0
    with pytest.raises(ValueError):
        packed_words(["\u00e9t\u00e9"])


def test_document_spans_turns_to_the_compiled_splitter_once_it_pays(monkeypatch):
    monkeypatch.setattr(sentences, "_compiled_loaded", False)
    monkeypatch.setattr(sentences, "_split_in_python", 0)
    monkeypatch.setattr(sentences, "COMPILED_SPLIT_AFTER", 30)
    texts = ["H.E. Mr. Aliyev spoke. Growth was 2.5%.", "Talks began. Trade grew.",
             "One more. And the last."]
    spans = []
    for found in document_spans(texts):
        spans.append(found)
        if len(spans) == 1:  # 39 characters split in Python: past the threshold
            assert not sentences._compiled_loaded
    assert sentences._compiled_loaded
    assert sentences._split_in_python == len(texts[0])
    assert spans == [sentence_spans(text) for text in texts]


def test_real_speeches_give_the_same_sentences(shared):
    corpus = shared("corpus/ungdc_1946_2024.csv.gz")
    # every 25th of the first 2,500 speeches: all decades' typing and layout
    texts = pd.read_csv(corpus, nrows=2500)["text"].astype(str).tolist()[::25]
    for text in texts:
        assert sentence_spans(text, compiled=True) == sentence_spans(text)


def test_the_seed_statement_gives_the_same_sentences(seed_path):
    text = seed_path.read_text(encoding="utf-8")
    assert sentence_spans(text, compiled=True) == sentence_spans(text)
