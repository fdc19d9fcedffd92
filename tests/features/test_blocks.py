import importlib
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils._param_validation import InvalidParameterError

from policy_themes.features.blocks import HashedNgrams, HashedTfidf, hash_ngrams
from policy_themes.rules import matching
from policy_themes.rules.matching import normalize_batch, normalize_batch_bytes

# a mix of ASCII punctuation, typographic punctuation, no-break space, accents, "_", digits that
# are not ASCII, characters outside the BMP (emoji, a math letter), case changes and line breaks
ALPHABET = list("aZ09 .,!?'-_\n\t\r\x00") + [
    "\u201c", "\u201d", "\u2014", "\u2026", "\u00a0", "\u2028", "é", "É", "ß", "İ", "Σ",
    "\u00b2", "\u0660", "\u0301", "\ufb01", "中", "😀", "\U0001d400", "\U00010400"]

CORPUS = ["the gas pipeline deal was signed", "the pipeline runs through the sea",
          "gas prices rose", "the sea the sea the sea", "sanctions on gas exports"]


def reference(texts):
    joined = " \n ".join(str(t).lower().replace("\n", " ") for t in texts)
    return " " + matching._NON_WORD.sub(" ", joined) + " "


def grams(texts, analyzer="word", ngram_range=(1, 2)):
    """The n-gram strings (bytes) of each occurrence, in output order."""
    _, _, text, starts, ends = hash_ngrams(texts, analyzer, ngram_range, with_spans=True)
    return [text[s:e] for s, e in zip(starts, ends)]


def chunk_modules():
    """The modules whose ``_CHUNK_BYTES`` sets the batch size (features, or ngrams after the
    hashing moved there)."""
    names = ["policy_themes.features.blocks", "policy_themes.features.ngrams"]
    found = [m for m in map(_try_import, names) if m is not None and hasattr(m, "_CHUNK_BYTES")]
    assert found, "no module defines _CHUNK_BYTES"
    return found


def _try_import(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def row_norms(matrix):
    return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())


# --- normalize_batch -----------------------------------------------------------------------


@pytest.mark.parametrize("texts", [
    [],
    [""],
    ["", ""],
    ["The U.N.'s multi-vector  policy!", "Gas"],
    ["\u201cQuoted\u201d \u2014 text\u2026", "no\u00a0break\u00a0space"],
    ["Élysée Ça ÜBER straße İstanbul ΣΟΦΟΣ"],
    ["snake_case __x__", "x\u00b2 + \u0660\u0661 = 3"],
    ["smile 😀 now", "bold \U0001d400\U0001d401!", "plain text after"],
    ["😀", "", "😀😀 ok"],
    ["line one\nline two\n", "\n\n", "tab\there"],
    ["!leading", "trailing!", "  both  "],
])
def test_normalize_batch_matches_regex(texts):
    assert normalize_batch(texts) == reference(texts)


def test_normalize_batch_every_bmp_character():
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000]
    texts = ["".join(chars[i:i + 997]) for i in range(0, len(chars), 997)]
    assert normalize_batch(texts) == reference(texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(ALPHABET), max_size=30), max_size=6))
def test_normalize_batch_property(texts):
    expected = reference(texts)
    assert normalize_batch(texts) == expected
    assert normalize_batch_bytes(texts).tobytes().decode("utf-8") == expected


def test_normalize_batch_bytes_is_utf8_of_normalize_batch():
    texts = ["Gas, PIPELINE!", "Élysée 😀 x\u00b2", ""]
    result = normalize_batch_bytes(texts)
    assert result.dtype == np.uint8
    assert result.tobytes().decode() == normalize_batch(texts) == reference(texts)


# --- hash_ngrams ---------------------------------------------------------------------------


def test_hash_ngrams_rows_in_order_and_case_and_punctuation_ignored():
    rows, buckets = hash_ngrams(["Gas pipeline", "gas, PIPELINE!"])
    assert rows.tolist() == [0, 0, 1, 1, 0, 1]  # unigrams then bigrams, each in text order
    assert buckets[0] == buckets[2] and buckets[1] == buckets[3] and buckets[4] == buckets[5]
    assert len({buckets[0], buckets[1], buckets[4]}) == 3
    assert grams(["Gas pipeline"]) == [b"gas", b"pipeline", b"gas pipeline"]
    assert buckets.dtype == np.int64 and buckets.min() >= 0 and buckets.max() < 2**21


def test_hash_ngrams_drops_one_character_words():
    # "a", "x" and "9" are not tokens; the bigram joins the words on either side of "x"
    assert grams(["a gas x pipeline 9"]) == [b"gas", b"pipeline", b"gas x pipeline"]
    assert grams(["a b 9 \u00e9"]) == []


def test_word_bigrams_do_not_cross_texts():
    rows, _ = hash_ngrams(["oil gas", "pipeline deal"], ngram_range=(2, 2))
    assert rows.tolist() == [0, 1]
    assert grams(["oil gas", "pipeline deal"], ngram_range=(2, 2)) == [b"oil gas",
                                                                       b"pipeline deal"]
    assert grams(["oil gas", "pipeline deal", "x"], ngram_range=(3, 3)) == []


def test_char_wb_ngrams_stay_inside_words():
    assert set(grams(["ab cd"], "char_wb", (3, 3))) == {b" ab", b"ab ", b" cd", b"cd "}
    expected = {b" a", b"ab", b"b ", b" ab", b"ab ", b" ab ", b" c", b"cd", b"d ", b" cd",
                b"cd ", b" cd "}
    assert set(grams(["ab", "cd"], "char_wb", (2, 4))) == expected
    # punctuation at the ends leaves two spaces in the normalised text: still no "  " n-gram
    assert set(grams(["!ab!", "(cd)"], "char_wb", (2, 4))) == expected


def test_char_wb_ngram_range_from_one_gives_characters():
    # ngram_range=(1, n) is accepted, so it should give the character unigrams too
    assert {b"a", b"b", b" a", b"ab", b"b "} <= set(grams(["ab"], "char_wb", (1, 2)))
    unigrams = grams(["ab cd", "e"], "char_wb", (1, 1))
    assert b"\n" not in unigrams and set(unigrams) - {b" "} == {b"a", b"b", b"c", b"d", b"e"}


@pytest.mark.parametrize(("analyzer", "ngram_range"), [
    ("chars", (1, 1)), ("word", (0, 1)), ("word", (2, 1)), ("char_wb", (3, 2))])
def test_hash_ngrams_rejects_bad_parameters(analyzer, ngram_range):
    with pytest.raises(ValueError):
        hash_ngrams(["gas"], analyzer, ngram_range)


@pytest.mark.parametrize(("analyzer", "ngram_range"), [("word", (1, 3)), ("char_wb", (2, 5))])
def test_hash_is_independent_of_the_batch(analyzer, ngram_range):
    _, alone = hash_ngrams(["x y z and more words"], analyzer, ngram_range)
    rows, buckets = hash_ngrams(["before it", "", "x y z and more words", "after"],
                                analyzer, ngram_range)
    assert buckets[rows == 2].tolist() == alone.tolist()


def test_hash_is_stable_across_processes():
    code = ("from policy_themes.features.blocks import hash_ngrams\n"
            "for a, r in (('word', (1, 2)), ('char_wb', (2, 4))):\n"
            "    print(hash_ngrams(['Gas pipeline through Élysée'], a, r)[1].tolist())\n")
    expected = [str(hash_ngrams(["Gas pipeline through Élysée"], a, r)[1].tolist())
                for a, r in (("word", (1, 2)), ("char_wb", (2, 4)))]
    for seed in ("1", "3"):  # a hash that depends on Python's str hash differs between them
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env).stdout.splitlines()
        assert out == expected


def test_char_wb_non_ascii_is_deterministic():
    first = hash_ngrams(["Élysée"], "char_wb", (2, 5), with_spans=True)
    second = hash_ngrams(["élysée"], "char_wb", (2, 5), with_spans=True)
    assert len(first[1]) > 0
    for a, b in zip(first, second):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
    assert first[2] == " élysée ".encode()
    model = HashedTfidf(analyzer="char_wb", ngram_range=(2, 5)).fit(["Élysée", "Paris"])
    matrix = model.transform(["ÉLYSÉE", "élysée"])
    assert (matrix != model.transform(["Élysée"] * 2)).nnz == 0
    assert np.allclose(row_norms(matrix), 1)
    assert all(isinstance(n, str) for n in model.get_feature_names_out())


# --- HashedTfidf ---------------------------------------------------------------------------


def test_tfidf_rows_have_unit_norm_and_empty_text_is_zero():
    model = HashedTfidf(ngram_range=(1, 2)).fit(CORPUS)
    matrix = model.transform(CORPUS + ["", "unseen words only", "!!!"])
    assert matrix.shape == (8, len(model.buckets_))
    assert not np.isnan(matrix.data).any()
    norms = row_norms(matrix)
    assert np.allclose(norms[:5], 1, atol=1e-6)
    assert norms[5:].tolist() == [0, 0, 0]


def test_tfidf_min_df_and_feature_names():
    model = HashedTfidf(ngram_range=(1, 2), min_df=2).fit(CORPUS)
    assert set(model.get_feature_names_out()) == {"the", "gas", "pipeline", "sea", "the sea"}
    model = HashedTfidf(ngram_range=(1, 2)).fit(["gas pipeline", "gas deal"])
    names = model.get_feature_names_out()
    assert set(names) == {"gas", "pipeline", "deal", "gas pipeline", "gas deal"}
    assert len(names) == len(model.buckets_) == len(model.idf_)
    row = model.transform(["gas deal with unknown partners"])
    assert sorted(names[row.indices]) == ["deal", "gas", "gas deal"]


def test_tfidf_matches_sklearn():
    corpus = CORPUS + ["deal deal deal on gas", "no overlap here"]
    ours = HashedTfidf(ngram_range=(1, 1), sublinear_tf=True).fit(corpus)
    theirs = TfidfVectorizer(sublinear_tf=True).fit(corpus)
    ours_names = list(ours.get_feature_names_out())
    theirs_names = list(theirs.get_feature_names_out())
    assert sorted(ours_names) == sorted(theirs_names)
    order = [ours_names.index(n) for n in theirs_names]
    assert np.allclose(ours.idf_[order], theirs.idf_, atol=1e-6)
    queries = corpus + ["the gas the gas sea", "sea"]
    a = ours.transform(queries).toarray()[:, order]
    b = theirs.transform(queries).toarray()
    assert np.abs(a - b).max() < 1e-6


def test_tfidf_transform_in_chunks_is_the_same(monkeypatch):
    model = HashedTfidf(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(CORPUS)
    texts = CORPUS * 7 + ["", "Élysée gas"]
    whole = model.transform(texts)
    parts = sp.vstack([model.transform(texts[i:i + 4]) for i in range(0, len(texts), 4)])
    assert (whole != parts).nnz == 0
    single = HashedTfidf(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(
        CORPUS * 7)
    for module in chunk_modules():
        monkeypatch.setattr(module, "_CHUNK_BYTES", 64)
    assert (model.transform(texts) != whole).nnz == 0
    chunked = HashedTfidf(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(
        CORPUS * 7)
    assert np.array_equal(chunked.buckets_, single.buckets_)
    assert np.array_equal(chunked.idf_, single.idf_)
    assert list(chunked.get_feature_names_out()) == list(single.get_feature_names_out())


def test_tfidf_pickle_round_trip():
    model = HashedTfidf(ngram_range=(1, 2)).fit(CORPUS)
    before = model.transform(CORPUS)  # builds the lookup cache
    assert "_lookup_cache" in model.__dict__
    assert "_lookup_cache" not in model.__getstate__()
    restored = pickle.loads(pickle.dumps(model))
    assert "_lookup_cache" not in restored.__dict__
    assert (restored.transform(CORPUS) != before).nnz == 0
    assert list(restored.get_feature_names_out()) == list(model.get_feature_names_out())


@pytest.mark.parametrize("params", [
    {"min_df": 0}, {"analyzer": "chars"}, {"ngram_range": (2, 1)}, {"ngram_range": (0, 1)},
    {"ngram_range": (1, 17)},
    {"n_bits": 40}, {"norm": "l1"}])
def test_tfidf_rejects_bad_parameters(params):
    with pytest.raises(InvalidParameterError):
        HashedTfidf(**params).fit(CORPUS)


# --- HashedNgrams --------------------------------------------------------------------------


def test_hashed_ngrams_columns_are_the_buckets():
    model = HashedNgrams(n_bits=12).fit()
    matrix = model.transform(["Gas pipeline", "", "the sea the sea"])
    assert matrix.shape == (3, 2**12)
    assert np.allclose(row_norms(matrix), [1, 0, 1])
    rows, buckets = hash_ngrams(["Gas pipeline", "", "the sea the sea"], "word", (1, 2), 12)
    for row in range(3):
        assert sorted(matrix[row].indices.tolist()) == sorted(set(buckets[rows == row].tolist()))
    counts = matrix[2].toarray().ravel()[sorted(set(buckets[rows == 2].tolist()))]
    assert sorted(np.round(counts / counts.min(), 6).tolist()) == [1, 2, 2, 2]  # sea the ×1
    assert len(model.get_feature_names_out()) == 2**12


def test_hashed_ngrams_rejects_bad_parameters():
    with pytest.raises(InvalidParameterError):
        HashedNgrams(n_bits=4).fit()
    with pytest.raises(InvalidParameterError):
        HashedNgrams(ngram_range=(3, 1)).fit()
