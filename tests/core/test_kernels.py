"""The compiled loops of ngram_matrix against the array code of hash_ngrams and a plain
scikit-learn-like TF-IDF computed with NumPy."""

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_themes import kernels
from policy_themes.features.ngrams import (
    add_weighted_products,
    bucket_lookup,
    hash_ngrams,
    ngram_columns,
    ngram_matrix,
    weighted_matrix,
    word_and_unigram_columns,
)
from policy_themes.hashing import BASE, MAX_N
from policy_themes.rules.matching import normalize_batch_bytes

# multi-byte characters, one-character words, punctuation runs and line breaks
ALPHABET = list("ab cz9 .,-'\n") + ["é", "ß", "中", "😀", "\u2014", "\u00a0"]
TEXTS = st.lists(st.text(alphabet=st.sampled_from(ALPHABET), max_size=40), min_size=1,
                 max_size=6)
SETTINGS = st.sampled_from([("word", (1, 1)), ("word", (1, 2)), ("word", (2, 3)),
                            ("char_wb", (1, 1)), ("char_wb", (2, 5)), ("char_wb", (3, 4))])


def kernel_buckets(texts, analyzer, ngram_range, n_bits=12, lookup=None):
    """Each text's columns as the kernel finds them."""
    codes = normalize_batch_bytes(texts)
    low, high = ngram_range
    indptr = np.empty(len(texts) + 1, dtype=np.int64)
    columns = np.empty(len(codes) * (high - low + 1), dtype=np.int32)
    hash_columns = kernels.word_columns if analyzer == "word" else kernels.char_wb_columns
    lookup = np.zeros((0, 2), dtype=np.uint64) if lookup is None else lookup
    found = hash_columns(codes, low, high, np.uint64(64 - n_bits), lookup, indptr, columns)
    assert indptr[-1] == found
    return [columns[indptr[i]:indptr[i + 1]].tolist() for i in range(len(texts))]


def array_buckets(texts, analyzer, ngram_range, n_bits=12):
    rows, buckets = hash_ngrams(texts, analyzer, ngram_range, n_bits)
    return [buckets[rows == i].tolist() for i in range(len(texts))]


@settings(max_examples=300, deadline=None)
@given(TEXTS, SETTINGS)
def test_kernels_hash_the_ngrams_of_hash_ngrams(texts, setting):
    analyzer, ngram_range = setting
    found = kernel_buckets(texts, analyzer, ngram_range)
    expected = array_buckets(texts, analyzer, ngram_range)
    assert [Counter(row) for row in found] == [Counter(row) for row in expected]


def test_kernel_lookup_keeps_known_buckets_only():
    texts = ["the gas pipeline", "gas gas", "nothing known here"]
    rows, buckets = hash_ngrams(texts, "word", (1, 2), 12)
    known = np.unique(buckets[rows == 1])  # "gas" and "gas gas"
    lookup = bucket_lookup(known, 12)
    found = kernel_buckets(texts, "word", (1, 2), lookup=lookup)
    gas = int(np.searchsorted(known, buckets[(rows == 1)][0]))
    assert found[0] == [gas]
    assert Counter(found[1]) == Counter({gas: 2, 1 - gas: 1})
    assert found[2] == []


@settings(max_examples=200, deadline=None)
@given(TEXTS, SETTINGS, st.integers(1, 14), st.randoms(use_true_random=False))
def test_kernel_lookup_gives_each_known_bucket_its_index(texts, setting, n_bits, random):
    analyzer, ngram_range = setting
    every = array_buckets(texts, analyzer, ngram_range, n_bits)
    seen = sorted({b for row in every for b in row})
    known = np.array(sorted(random.sample(seen, len(seen) // 2)), dtype=np.int64)
    found = kernel_buckets(texts, analyzer, ngram_range, n_bits, bucket_lookup(known, n_bits))
    column = {int(b): i for i, b in enumerate(known)}
    expected = [[column[b] for b in row if b in column] for row in every]
    assert [Counter(row) for row in found] == [Counter(row) for row in expected]


def test_bucket_lookup_refuses_unsorted_buckets():
    with pytest.raises(ValueError, match="sorted, distinct"):
        bucket_lookup(np.array([5, 3]), 12)
    with pytest.raises(ValueError, match="sorted, distinct"):
        bucket_lookup(np.array([4096]), 12)


def reference_matrix(texts, analyzer, ngram_range, n_bits, sublinear_tf, norm, idf=None):
    """TF-IDF as scikit-learn computes it, from the array hashing."""
    rows, buckets = hash_ngrams(texts, analyzer, ngram_range, n_bits)
    counts = sp.coo_matrix((np.ones(len(rows)), (rows, buckets)),
                           shape=(len(texts), 2**n_bits)).tocsr()
    counts.sum_duplicates()
    if sublinear_tf:
        counts.data = np.log(counts.data) + 1
    if idf is not None:
        counts = counts @ sp.diags(idf)
    if norm == "l2":
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        counts = sp.diags(1 / norms) @ counts
    return counts.toarray()


@settings(max_examples=150, deadline=None)
@given(TEXTS, SETTINGS, st.booleans(), st.sampled_from(["l2", None]))
def test_ngram_matrix_is_tfidf_of_the_hashed_ngrams(texts, setting, sublinear_tf, norm):
    analyzer, ngram_range = setting
    matrix = ngram_matrix(texts, analyzer=analyzer, ngram_range=ngram_range, n_bits=10,
                          sublinear_tf=sublinear_tf, norm=norm)
    assert matrix.dtype == np.float32 and matrix.shape == (len(texts), 2**10)
    expected = reference_matrix(texts, analyzer, ngram_range, 10, sublinear_tf, norm)
    np.testing.assert_allclose(matrix.toarray(), expected, rtol=1e-6, atol=1e-7)


def test_ngram_matrix_with_idf_and_lookup():
    texts = ["gas gas gas pipeline", "the sea", ""]
    rows, buckets = hash_ngrams(texts, "word", (1, 1), 12)
    kept = np.unique(buckets)
    idf = np.linspace(1, 2, len(kept)).astype(np.float32)
    matrix = ngram_matrix(texts, analyzer="word", ngram_range=(1, 1), n_bits=12,
                          sublinear_tf=True, norm="l2", lookup=bucket_lookup(kept, 12),
                          n_columns=len(kept), idf=idf)
    full_idf = np.ones(2**12)
    full_idf[kept] = idf
    expected = reference_matrix(texts, "word", (1, 1), 12, True, "l2", full_idf)[:, kept]
    np.testing.assert_allclose(matrix.toarray(), expected, rtol=1e-6)


def test_counts_past_the_tf_table():
    count = kernels.TF_TABLE_SIZE + 5
    for sublinear_tf, expected in [(True, np.log(np.float32(count)) + 1), (False, count)]:
        matrix = ngram_matrix(["gas " * count], analyzer="word", ngram_range=(1, 1),
                              n_bits=12, sublinear_tf=sublinear_tf, norm=None)
        assert matrix.nnz == 1
        assert matrix.data[0] == pytest.approx(expected, rel=1e-6)


def test_ngram_matrix_of_nothing_and_of_long_input():
    empty = ngram_matrix([], analyzer="char_wb", ngram_range=(2, 5), n_bits=12,
                         sublinear_tf=True, norm="l2")
    assert empty.shape == (0, 2**12) and empty.nnz == 0
    blank = ngram_matrix(["", "  ", "!?", "\n"], analyzer="word", ngram_range=(1, 2),
                         n_bits=12, sublinear_tf=True, norm="l2")
    assert blank.shape == (4, 2**12) and blank.nnz == 0 and blank.dtype == np.float32
    # several chunks of the batch: rows stay in order and independent of their neighbours
    texts = [f"sentence {i} about gas and oil number {i % 7}" for i in range(9000)]
    whole = ngram_matrix(texts, analyzer="char_wb", ngram_range=(2, 5), n_bits=12,
                         sublinear_tf=True, norm="l2")
    alone = ngram_matrix(texts[8990:], analyzer="char_wb", ngram_range=(2, 5), n_bits=12,
                         sublinear_tf=True, norm="l2")
    assert (whole[8990:] != alone).nnz == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"analyzer": "char"}, "analyzer"),
    ({"ngram_range": (0, 2)}, "ngram_range"),
    ({"ngram_range": (1, MAX_N + 1)}, "ngram_range"),
    ({"norm": "l1"}, "norm"),
])
def test_ngram_matrix_rejects_bad_settings(kwargs, message):
    settings_ = {"analyzer": "word", "ngram_range": (1, 2), "n_bits": 12,
                 "sublinear_tf": False, "norm": "l2", **kwargs}
    with pytest.raises(ValueError, match=message):
        ngram_matrix(["gas"], **settings_)



@settings(max_examples=60, deadline=None)
@given(row_lengths=st.lists(st.integers(0, 13), min_size=1, max_size=8),
       seed=st.integers(0, 2**32 - 1), first_row=st.integers(0, 3))
def test_add_products_is_scipys_product_bit_for_bit(row_lengths, seed, first_row):
    """Rows of every length around the four-at-a-time loop, with repeated, unsorted columns
    and weights of very different sizes (so that the order of the sums shows): the totals
    are SciPy's ``X @ W`` exactly, and added to what ``out`` held in the same order."""
    random = np.random.default_rng(seed)
    width, n_outputs = 9, 5
    indptr = np.concatenate([[0], np.cumsum(row_lengths)]).astype(np.int64)
    indices = random.integers(0, width, indptr[-1]).astype(np.int32)
    data = random.normal(size=indptr[-1])
    weights = random.normal(size=(first_row + width, n_outputs)) * 10.0 ** random.integers(
        -8, 9, size=(first_row + width, n_outputs))
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(row_lengths), width))

    out = np.zeros((len(row_lengths), n_outputs))
    kernels.add_products(indptr, indices, data, weights, first_row, out)
    np.testing.assert_array_equal(out, matrix @ weights[first_row:])

    start = random.normal(size=out.shape)
    out = start.copy()
    kernels.add_products(indptr, indices, data, weights, first_row, out)
    for row in range(len(row_lengths)):
        for i in range(indptr[row], indptr[row + 1]):
            start[row] += data[i] * weights[first_row + indices[i]]
    np.testing.assert_array_equal(out, start)


def python_mix(value, salt):
    """:func:`policy_themes.hashing.mix` of one value, in Python integers."""
    value ^= salt
    value ^= value >> 30
    value = value * 0xBF58476D1CE4E5B9 % 2**64
    value ^= value >> 27
    value = value * 0x94D049BB133111EB % 2**64
    return value ^ (value >> 31)


def ordered_char_columns(texts, ngram_range, n_bits=12):
    """Each text's character n-gram buckets in the kernel's order (by start, then n), one
    n-gram at a time in Python: the hash of its bytes, as the array code's prefix hashes give
    it."""
    low, high = ngram_range
    powers = [pow(int(BASE), j, 2**64) for j in range(high)]
    rows = []
    for line in bytes(normalize_batch_bytes(texts)).split(b"\n"):
        row = []
        for start in range(len(line)):
            for n in range(1, high + 1):
                window = line[start:start + n]
                if len(window) < n or (n >= 3 and 32 in window[1:-1]):
                    break
                if n < low or (n <= 2 and window.strip(b" ") == b""):
                    continue
                hashed = sum(byte * power for byte, power in zip(window, powers)) % 2**64
                row.append(python_mix(hashed, 100 + n) >> (64 - n_bits))
        rows.append(row)
    return rows


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.sampled_from([(1, 1), (2, 5), (3, 4), (1, 5)]))
def test_char_kernel_keeps_the_order_of_the_ngrams(texts, ngram_range):
    """Columns in the order of the n-grams (the products sum in that order), words met again
    (their columns copied from the kernel's memo) included."""
    assert kernel_buckets(texts, "char_wb", ngram_range) == ordered_char_columns(texts,
                                                                                  ngram_range)


def test_char_kernel_memo_when_full_and_for_long_words():
    """More distinct words than the memo keeps, words longer than it keeps, and words seen
    again after it is full: the same columns, in the same order, as one n-gram at a time."""
    random = np.random.default_rng(0)
    words = [a + b + c for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"
             for c in "abcdefghijklmnopqrstuvwxyz"]  # 17,576: more than the memo keeps
    random.shuffle(words)
    words += ["x" * kernels.MEMO_WORD_BYTES, "y" * (kernels.MEMO_WORD_BYTES + 1), "é" * 20]
    texts = [" ".join(words[i:i + 50]) for i in range(0, len(words), 50)]
    texts += [" ".join(random.choice(words, size=12)) for _ in range(1_000)]
    assert kernel_buckets(texts, "char_wb", (2, 5), n_bits=20) == \
        ordered_char_columns(texts, (2, 5), n_bits=20)


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.sampled_from([(1, 1), (1, 2), (2, 3)]), st.integers(1, 14),
       st.integers(1, 14), st.randoms(use_true_random=False))
def test_word_and_unigram_columns_are_two_passes_in_one(texts, ngram_range, n_bits,
                                                        unigram_n_bits, random):
    """The word n-grams under one block's buckets and the words alone under another's, in one
    pass: the same as two calls of ngram_columns."""
    codes = normalize_batch_bytes(texts)
    unigrams = array_buckets(texts, "word", (1, 1), unigram_n_bits)
    seen = sorted({b for row in unigrams for b in row})
    known = bucket_lookup(np.array(sorted(random.sample(seen, len(seen) // 2)),
                                   dtype=np.int64), unigram_n_bits)
    words, found = word_and_unigram_columns(codes, len(texts), ngram_range=ngram_range,
                                            n_bits=n_bits, lookup=None,
                                            unigram_n_bits=unigram_n_bits, unigram_lookup=known)
    for ours, theirs in ((words, ngram_columns(codes, len(texts), analyzer="word",
                                               ngram_range=ngram_range, n_bits=n_bits)),
                         (found, ngram_columns(codes, len(texts), analyzer="word",
                                               ngram_range=(1, 1), n_bits=unigram_n_bits,
                                               lookup=known))):
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])


@settings(max_examples=100, deadline=None)
@given(TEXTS, SETTINGS, st.booleans(), st.sampled_from(["l2", None]), st.booleans(),
       st.sampled_from([np.float64, np.float32]), st.integers(0, 2**32 - 1))
def test_weighted_products_are_the_products_of_the_weighted_matrix(texts, setting, sublinear_tf,
                                                                  norm, with_idf, dtype, seed):
    """Counting, weighting and multiplying a line at a time gives the product of
    weighted_matrix's matrix bit for bit (as SciPy computes it, in the weights' precision),
    added to what ``out`` held."""
    analyzer, ngram_range = setting
    random = np.random.default_rng(seed)
    n_bits, first_row = 8, 3
    codes = normalize_batch_bytes(texts)
    indptr, columns = ngram_columns(codes, len(texts), analyzer=analyzer,
                                    ngram_range=ngram_range, n_bits=n_bits)
    idf = random.uniform(1, 5, 2**n_bits).astype(np.float32) if with_idf else None
    weighting = {"width": 2**n_bits, "sublinear_tf": sublinear_tf, "norm": norm, "idf": idf}
    weights = random.normal(size=(first_row + 2**n_bits, 7)).astype(dtype)
    start = random.normal(size=(len(texts), 7)).astype(dtype)

    out = start.copy()
    add_weighted_products(indptr, columns, weights, first_row, out, **weighting)
    matrix = weighted_matrix(indptr, columns, **weighting)
    expected = start.copy()
    kernels.add_products(matrix.indptr, matrix.indices, matrix.data, weights, first_row,
                         expected)
    np.testing.assert_array_equal(out, expected)
    without_start = np.zeros_like(start)
    add_weighted_products(indptr, columns, weights, first_row, without_start, **weighting)
    # not matrix.astype, which sorts each row's columns (and so changes the order of the sums)
    converted = sp.csr_matrix((matrix.data.astype(dtype), matrix.indices, matrix.indptr),
                              shape=matrix.shape)
    np.testing.assert_array_equal(without_start, np.asarray(converted @ weights[first_row:]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 300_000), max_size=30))
def test_iter_chunks_cuts_where_the_next_text_would_pass_the_limit(lengths):
    """Slices in order, each within ``_CHUNK_BYTES`` (a text and 3 per text) unless it holds
    one text only, and each as long as it can be."""
    from policy_themes.features import ngrams

    texts = ["x" * n for n in lengths]
    chunks = list(ngrams.iter_chunks(texts))
    assert [t for chunk in chunks for t in chunk] == texts
    assert all(chunks) or texts == []
    size = [sum(len(t) + 3 for t in chunk) for chunk in chunks]
    for i, chunk in enumerate(chunks):
        assert size[i] <= ngrams._CHUNK_BYTES or len(chunk) == 1
        if i + 1 < len(chunks):  # the next text did not fit
            assert size[i] + len(chunks[i + 1][0]) + 3 > ngrams._CHUNK_BYTES
