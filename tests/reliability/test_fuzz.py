"""Property-based tests: the splitter, the labeler, the table reader and the CLI on any input.

Example counts are kept modest so the whole reliability folder runs in well under a minute.
"""

from __future__ import annotations

import gzip
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.io.tables import read_table
from policy_themes.io.writers import AtomicTableWriter
from policy_themes.rules.labeling import label_sentences
from policy_themes.text.sentences import clean_span, split_sentences

runner = CliRunner()

# text without lone surrogates (no file decodes to them) and without NUL (refused as binary)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                          blacklist_characters="\x00"), max_size=200)
# the pieces documents are made of, so that abbreviations, bullets, quotes, hyphenated line
# breaks and headings meet far more often than in random characters
PIECES = st.sampled_from([
    "The", "minister", "met", "Mr.", "Dr.", "H.E.", "U.S.", "U.N.", "e.g.", "No.", "5", "2.5%",
    "Art.", "inter-\nnational", "Russian-\nAzerbaijani", "said:", '"We', 'agree."', "“Yes.”",
    "(see", "below).", "?", "!", "…", ".", ",", "-", "- ", "• ", "1. ", "(a) ", "b) ", "* ",
    " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\x0c", "\u2028", "\u00a0", "HEADING", "a.",
    "Gas", "pipeline.", "É", "ß", "日本", "🙂",
])
DOCUMENTS = st.one_of(ANY_TEXT, st.lists(st.one_of(PIECES, ANY_TEXT), max_size=40).map(
    lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts)))
# what may stand between two sentences: white space and, at the start of a line, a bullet
_BULLET = re.compile(r"(?:[-\u2022\u25aa\u25cf\u2013\u2014*\u00b7]|\(?\d{1,2}[.)]|\(?[a-z][.)])")


def _gap_is_only_space_and_bullets(gap: str) -> bool:
    return all(not line.strip() or _BULLET.fullmatch(line.strip())
               for line in gap.splitlines())


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_sentence_offsets_map_back_and_no_text_is_lost_or_repeated(document):
    sentences = split_sentences(document, doc_id="d")
    position = 0
    for index, sentence in enumerate(sentences):
        assert sentence.index == index
        assert sentence.text
        assert position <= sentence.start < sentence.end <= len(document)
        assert clean_span(document[sentence.start:sentence.end]) == sentence.text
        assert _gap_is_only_space_and_bullets(document[position:sentence.start]), (
            document[position:sentence.start])
        position = sentence.end
    assert _gap_is_only_space_and_bullets(document[position:])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(ANY_TEXT, DOCUMENTS), max_size=8))
def test_the_labeler_takes_any_text(taxonomy, texts):
    result = label_sentences(texts, taxonomy)
    n = len(texts)
    assert result.counts.shape == (n, len(result.rule_names))
    assert result.scores.shape == (n, len(taxonomy.ids))
    assert len(result.themes) == len(result.primary) == len(result.rules_fired) == n
    assert (result.counts >= 0).all() and np.isfinite(result.scores).all()
    for themes, primary in zip(result.themes, result.primary):
        assert themes and themes[0] == primary
        assert set(themes) <= set(taxonomy.ids)


CELLS = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                       blacklist_characters="\x00"), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS), min_size=1, max_size=6),
       st.sampled_from(["csv", "tsv", "jsonl", "parquet", "csv.gz", "jsonl.gz"]))
def test_any_unicode_cells_survive_a_round_trip(rows, suffix):
    frame = pd.DataFrame(rows, columns=["text", "other"])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"table.{suffix}"
        with AtomicTableWriter(path) as writer:
            writer.write(frame)
        back = read_table(path)
        assert [p.name for p in Path(folder).iterdir()] == [path.name]
    assert list(back.columns) == ["text", "other"]
    # an empty cell reads back as missing in CSV and TSV: the only difference allowed
    assert back.fillna("").astype(str).values.tolist() == frame.values.tolist()


def _as_table(body: str) -> bytes:
    return ("text,themes\n" + body).encode("utf-8")


PAYLOADS = st.one_of(
    st.binary(max_size=3000),
    ANY_TEXT.map(lambda t: t.encode("utf-8")),
    ANY_TEXT.map(_as_table),
    st.lists(st.sampled_from(['"', ",", "\n", "\r", ";", "\t", "Gas.", "energy_diplomacy",
                              "none", "x", " ", "\ufeff"]), max_size=60).map(
        lambda parts: _as_table("".join(parts))),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=PAYLOADS, compress=st.booleans(),
       suffix=st.sampled_from([".csv", ".tsv", ".txt", ".jsonl", ".parquet"]),
       command=st.sampled_from(["label", "predict"]))
def test_random_bytes_never_give_a_traceback(trained_model_dir, payload, compress, suffix,
                                             command):
    with tempfile.TemporaryDirectory() as folder:
        name = "input" + suffix + (".gz" if compress and suffix != ".parquet" else "")
        path = Path(folder) / name
        path.write_bytes(gzip.compress(payload) if name.endswith(".gz") else payload)
        out = Path(folder) / "out.jsonl"
        args = (["label", path, "--out", out, "--no-rules", "-j", "1"] if command == "label" else
                ["predict", "-m", trained_model_dir, "--input", path, "--out", out, "-j", "1"])
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code in (0, 1), (result.exit_code, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception)
        assert "Traceback" not in result.output
        lines = result.stderr.splitlines()
        assert all(line.startswith(("Warning: ", "Error: ")) for line in lines), lines
        if result.exit_code == 1:
            assert len(lines) == 1 and lines[0].startswith("Error: ")
            assert sorted(p.name for p in Path(folder).iterdir()) == [name]
        else:
            assert out.exists()
