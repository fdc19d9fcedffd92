import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy_themes.text.sentences import clean_span, split_sentences

# white space of every kind, printable and other characters
SPAN_TEXT = st.text(alphabet=st.sampled_from(list("ab .-\t\r\x0b\x0c\x1c\x85") + [
    "\u00a0", "\u2003", "\u2028", "\u3000", "\u00e9", "\u200b"]), max_size=30)


def texts(document: str) -> list[str]:
    return [s.text for s in split_sentences(document)]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("H.E. Mr. Ilham Aliyev received the delegation. The talks lasted two hours.",
         ["H.E. Mr. Ilham Aliyev received the delegation.", "The talks lasted two hours."]),
        ("Dr. Smith met U.S. Secretary Blinken in Washington. They discussed trade.",
         ["Dr. Smith met U.S. Secretary Blinken in Washington.", "They discussed trade."]),
        ("The U.N. Security Council met. The meeting ended at noon.",
         ["The U.N. Security Council met.", "The meeting ended at noon."]),
        ("The decision was taken in the U.S. The Senate agreed.",
         ["The decision was taken in the U.S.", "The Senate agreed."]),
        ("See resolution No. 2334 for details. It was adopted in 2016.",
         ["See resolution No. 2334 for details.", "It was adopted in 2016."]),
        ("Partners, e.g. Japan and Korea, joined. Others, i.e. the rest, did not.",
         ["Partners, e.g. Japan and Korea, joined.", "Others, i.e. the rest, did not."]),
        ("He lives on St. James Street. The embassy is near.",
         ["He lives on St. James Street.", "The embassy is near."]),
        ("Growth reached 2.5% in 2017. Trade rose to 1.2 billion dollars.",
         ["Growth reached 2.5% in 2017.", "Trade rose to 1.2 billion dollars."]),
        ("The meeting took place on Jan. 5 in Geneva. Prof. Ivanova chaired it.",
         ["The meeting took place on Jan. 5 in Geneva.", "Prof. Ivanova chaired it."]),
        ("Is it true? Yes! It is.", ["Is it true?", "Yes!", "It is."]),
    ],
)
def test_abbreviations_numbers_and_punctuation(document, expected):
    assert texts(document) == expected


def test_quotation_holding_several_sentences_is_split_inside():
    doc = 'He said: "We will continue. We are known today." Then he left.'
    assert texts(doc) == ['He said: "We will continue.', 'We are known today."',
                          "Then he left."]


def test_quotation_ending_in_lower_case_continues_the_sentence():
    assert texts('"Why?" he asked. We answered.') == ['"Why?" he asked.', "We answered."]


def test_heading_without_final_punctuation_is_its_own_sentence():
    doc = "Joint Statement\nThe ministers met in Baku. They signed three agreements."
    assert texts(doc) == ["Joint Statement", "The ministers met in Baku.",
                          "They signed three agreements."]


def test_bullet_items_are_sentences_without_their_markers():
    doc = "The priorities are:\n- energy security;\n- transport links;\n• trade\n1. visas\nEnd."
    assert texts(doc) == ["The priorities are:", "energy security;", "transport links;",
                          "trade", "visas", "End."]


def test_windows_line_endings():
    doc = "First line of the text.\r\nSecond line.\r\n\r\nNew paragraph here."
    assert texts(doc) == ["First line of the text.", "Second line.", "New paragraph here."]


def test_hyphenated_line_breaks_are_joined():
    doc = "The talks focused on inter-\nnational cooperation and the Russian-\nAzerbaijani border."
    assert texts(doc) == [
        "The talks focused on international cooperation and the Russian-Azerbaijani border."]


def test_hard_wrapped_prose_is_joined_even_before_capitals():
    doc = ("Wrapped line of a long paragraph that goes on for a while and then\n"
           "Continues with a capital letter after wrapping in the middle of text\n"
           "and here it ends.")
    assert len(texts(doc)) == 1


def test_offsets_point_into_the_original_document():
    doc = "Title line\r\n\r\nH.E. Mr. X arrived. He met inter-\nnational partners.\n"
    for sentence in split_sentences(doc, doc_id="d1"):
        assert sentence.doc_id == "d1"
        assert clean_span(doc[sentence.start:sentence.end]) == sentence.text
    assert [s.index for s in split_sentences(doc)] == [0, 1, 2]


def test_empty_and_blank_documents_have_no_sentences():
    assert split_sentences("") == []
    assert split_sentences(" \n\t\n") == []


def test_seed_document(seed_path):
    sentences = texts(seed_path.read_text(encoding="utf-8"))
    assert sentences[-1] == "You Might Also Like"
    assert any("H.E Mr. Ilham Aliyev, the instructions" in s for s in sentences)
    assert not any(s.endswith("H.E Mr.") for s in sentences)
    assert len(sentences) == 12


@given(SPAN_TEXT)
def test_clean_span_folds_white_space_like_split_and_join(span):
    assert clean_span(span) == " ".join(span.split())

