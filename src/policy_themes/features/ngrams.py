"""Hash word and character n-grams of a whole batch of texts at once.

scikit-learn's ``TfidfVectorizer`` cuts every sentence into n-grams in Python and looks each one up
in a dict of strings; at archive scale that loop is most of the prediction time. Here a batch of
sentences is normalised like the rules' text (lower case, runs of other characters than letters
and digits as one space: :func:`~normalize_batch_bytes`) as UTF-8 bytes,
and every n-gram is hashed: a polynomial hash over the bytes, mixed and cut to ``n_bits`` bits.
Fitting hashes with NumPy array operations (for words, prefix sums modulo 2**64 give any slice's
hash in O(1)), which also gives each n-gram's text; the feature matrices of training and
prediction come from compiled loops (:mod:`.kernels`) that compute the same hashes, bit for bit,
in one pass over the bytes.

Character n-grams (``analyzer="char_wb"``) are taken inside word boundaries, each word padded with
a space on both sides, over the UTF-8 bytes (for text outside ASCII an n-gram can end inside a
character; it is hashed all the same). Words of one character are not tokens (as in
scikit-learn's default ``token_pattern``) but count for character n-grams.

:func:`hash_ngrams` gives every n-gram with its text and span (what fitting needs: document
frequencies, a name for each column); :func:`ngram_matrix`, the feature matrix of training and
prediction, hashes the same n-grams with the compiled loops of :mod:`.kernels`.
:mod:`policy_themes.features.blocks` wraps both in scikit-learn transformers, and
:mod:`policy_themes.model.arrays` predicts with them without scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from policy_themes.hashing import BASE, BASE_INVERSE, JOIN, MAX_N, mix
from policy_themes.rules.matching import normalize_batch_bytes

if TYPE_CHECKING:  # imported where it is used: predict's workers make no sparse matrix
    import scipy.sparse as sp

__all__ = ["ANALYZERS", "MAX_N", "hash_ngrams", "ngram_matrix", "ngram_columns",
           "word_and_unigram_columns", "weighted_matrix", "add_weighted_products", "bucket_lookup",
           "iter_chunks"]

ANALYZERS = ("word", "char_wb")
_SPACE, _NEWLINE = 32, 10
# characters of a batch hashed together: each loop then runs long enough to reuse what it has
# in cache, for about 10 MB of arrays
_CHUNK_BYTES = 1 << 19


class _Powers:
    """``BASE**i`` and ``BASE**-i`` modulo 2**64, grown on demand."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=np.uint64)
        self.down = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up))
            with np.errstate(over="ignore"):
                self.up = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, BASE)],
                                     dtype=np.uint64)
                self.down = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, BASE_INVERSE)],
                                       dtype=np.uint64)
        return self.up[:n], self.down[:n]


_POWERS = _Powers()


class _Batch:
    """A batch of texts as normalised UTF-8 bytes, with the prefix hashes of its bytes."""

    def __init__(self, texts: Sequence[str]):
        self.bytes = normalize_batch_bytes(texts)
        self.separator = (self.bytes == _SPACE) | (self.bytes == _NEWLINE)
        self.row = np.cumsum(self.bytes == _NEWLINE, dtype=np.int64)

    @cached_property
    def _prefix(self) -> tuple[np.ndarray, np.ndarray]:
        """Prefix hashes of the bytes, and the inverse powers that move a slice's to its start
        (only words need them: character n-grams are short enough to hash directly)."""
        n = len(self.bytes)
        up, down = _POWERS.get(n + 1)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(self.bytes * up[:n], out=prefix[1:])
        return prefix, down

    def slice_hashes(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Hash of each byte slice ``[start, end)``, the same wherever the slice lies."""
        prefix, down = self._prefix
        return (prefix[ends] - prefix[starts]) * down[starts]

    def words(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end of every word (run of non-separator bytes)."""
        edges = np.diff((~self.separator).view(np.int8), prepend=np.int8(0),
                        append=np.int8(0))
        return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)

    def char_lengths(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Characters in each slice (UTF-8 bytes that do not continue a character)."""
        leading = np.zeros(len(self.bytes) + 1, dtype=np.int64)
        np.cumsum((self.bytes & 0xC0) != 0x80, out=leading[1:])
        return leading[ends] - leading[starts]


def _word_ngrams(batch: _Batch, ngram_range: tuple[int, int]
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[np.ndarray, ...]]]:
    starts, ends = batch.words()
    keep = batch.char_lengths(starts, ends) >= 2
    starts, ends = starts[keep], ends[keep]
    tokens = mix(batch.slice_hashes(starts, ends), 0)
    rows = batch.row[starts]
    low, high = ngram_range
    all_rows, all_hashes, spans = [], [], []
    for n in range(low, high + 1):
        count = len(tokens) - n + 1
        if count <= 0:
            break
        same_row = rows[: count] == rows[n - 1:]
        hashes = tokens[: count].copy()
        for k in range(1, n):
            hashes = hashes * JOIN + tokens[k: k + count]
        hashes = hashes[same_row] if n > 1 else hashes
        if n > 1:
            hashes = mix(hashes, n)
        index = np.flatnonzero(same_row)
        all_rows.append(rows[index])
        all_hashes.append(hashes)
        spans.append((starts[index], ends[index + n - 1]))
    return all_rows, all_hashes, spans


def _char_ngrams(batch: _Batch, ngram_range: tuple[int, int]
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[np.ndarray, ...]]]:
    codes = batch.bytes
    size = len(codes)
    positions = np.arange(size, dtype=np.int64)
    # word bytes in a row after each position: a window's inside must be all word bytes
    next_separator = np.minimum.accumulate(np.where(batch.separator, positions, size)[::-1])[::-1]
    run = np.zeros(size, dtype=np.int64)
    run[:-1] = next_separator[1:] - positions[1:]
    inside_row = codes != _NEWLINE
    wide = codes.astype(np.uint64)
    hashes = wide.copy()
    power = 1
    all_rows, all_hashes, spans = [], [], []
    for n in range(1, ngram_range[1] + 1):
        count = size - n + 1
        if count <= 0:
            break
        if n > 1:
            power = power * int(BASE) % 2**64
            hashes = hashes[:count] + wide[n - 1:] * np.uint64(power)
        if n < ngram_range[0]:
            continue
        if n == 1:
            valid = ~batch.separator
        else:
            valid = (run[:count] >= n - 2) & inside_row[:count] & inside_row[n - 1:]
        if n == 2:
            valid &= ~(batch.separator[:count] & batch.separator[1:])
        starts = np.flatnonzero(valid)
        all_rows.append(batch.row[starts])
        all_hashes.append(mix(hashes[starts], 100 + n))
        spans.append((starts, starts + n))
    return all_rows, all_hashes, spans


def hash_ngrams(texts: Sequence[str], analyzer: str = "word",
                ngram_range: tuple[int, int] = (1, 2), n_bits: int = 21, *,
                with_spans: bool = False):
    """Hash every n-gram of a batch of texts into ``2**n_bits`` buckets.

    Parameters
    ----------
    texts : sequence of str
        The texts.
    analyzer : {"word", "char_wb"}, default="word"
        Word n-grams, or character n-grams inside word boundaries.
    ngram_range : tuple of int, default=(1, 2)
        Smallest and largest n.
    n_bits : int, default=21
        Buckets are ``n_bits``-bit integers.
    with_spans : bool, default=False
        Also return the normalised batch (UTF-8 bytes) and each n-gram's byte span in it.

    Returns
    -------
    rows : ndarray of int64
        The text each n-gram occurs in (one entry per occurrence).
    buckets : ndarray of int64
        Its bucket.
    text, starts, ends : bytes, ndarray, ndarray
        Only with ``with_spans``.

    Examples
    --------
    >>> rows, buckets = hash_ngrams(["Gas pipeline", "gas, PIPELINE!"])
    >>> rows.tolist()
    [0, 0, 1, 1, 0, 1]
    >>> bool(buckets[0] == buckets[2] and buckets[1] == buckets[3] and buckets[4] == buckets[5])
    True
    """
    if analyzer not in ANALYZERS:
        raise ValueError(f"analyzer must be one of {ANALYZERS}, not {analyzer!r}")
    low, high = ngram_range
    if not 1 <= low <= high:
        raise ValueError(f"ngram_range must be (low, high) with 1 <= low <= high, not "
                         f"{ngram_range!r}")
    batch = _Batch(texts)
    make = _word_ngrams if analyzer == "word" else _char_ngrams
    rows, hashes, spans = make(batch, (low, high))
    shift = np.uint64(64 - n_bits)
    buckets = [(h >> shift).astype(np.int64) for h in hashes]
    rows_out = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    buckets_out = np.concatenate(buckets) if buckets else np.zeros(0, dtype=np.int64)
    if not with_spans:
        return rows_out, buckets_out
    starts = np.concatenate([s for s, _ in spans]) if spans else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([e for _, e in spans]) if spans else np.zeros(0, dtype=np.int64)
    return rows_out, buckets_out, batch.bytes.tobytes(), starts, ends


_NO_LOOKUP = np.zeros((0, 2), dtype=np.uint64)  # every bucket is its own column


def iter_chunks(texts: list[str]):
    """Consecutive slices of ``texts`` of at most ``_CHUNK_BYTES`` characters (one text at
    least), so that a batch's arrays stay small whatever the caller passes."""
    if len(texts) < 2:
        yield texts
        return
    # where each slice ends: the first text that takes it past the limit starts the next
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 3)
    start, base = 0, 0
    while start < len(texts):
        end = max(int(np.searchsorted(ends, base + _CHUNK_BYTES, side="right")), start + 1)
        yield texts[start:end]
        start, base = end, int(ends[end - 1])


def ngram_matrix(texts: Sequence[str], *, analyzer: str, ngram_range: tuple[int, int],
                 n_bits: int, sublinear_tf: bool, norm: str | None,
                 lookup: np.ndarray | None = None, n_columns: int | None = None,
                 idf: np.ndarray | None = None, dtype=np.float32) -> sp.csr_matrix:
    """The (weighted, normalised) n-gram count matrix of ``texts``.

    The n-grams are those of :func:`hash_ngrams`, hashed and counted by the compiled loops of
    :mod:`.kernels`; a row's columns are in the order of their first n-gram.

    Parameters
    ----------
    texts : sequence of str
    analyzer, ngram_range, n_bits
        As for :func:`hash_ngrams`.
    sublinear_tf : bool
        ``1 + log(tf)`` instead of the count.
    norm : {"l2", None}
        Scale rows to unit length.
    lookup : ndarray, default=None
        :func:`bucket_lookup` of the buckets that are columns; None makes every bucket its own
        column.
    n_columns : int, default=None
        Columns of the result (required with ``lookup``).
    idf : ndarray, default=None
        Weight of each column.
    dtype : numpy dtype, default=np.float32

    Returns
    -------
    csr_matrix of shape (len(texts), n_columns)
    """
    import scipy.sparse as sp

    texts = [t if isinstance(t, str) else str(t) for t in texts]
    width = n_columns if lookup is not None else 2 ** n_bits
    blocks = []
    for chunk in iter_chunks(texts):
        indptr, columns = ngram_columns(normalize_batch_bytes(chunk) if chunk else None,
                                        len(chunk), analyzer=analyzer, ngram_range=ngram_range,
                                        n_bits=n_bits, lookup=lookup)
        blocks.append(weighted_matrix(indptr, columns, width=width, sublinear_tf=sublinear_tf,
                                      norm=norm, idf=idf))
    matrix = blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
    return matrix.astype(dtype, copy=False)


def ngram_columns(codes: np.ndarray | None, n_texts: int, *, analyzer: str,
                  ngram_range: tuple[int, int], n_bits: int,
                  lookup: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The column of every n-gram of each normalised text (``columns[indptr[i]:indptr[i+1]]``
    for text ``i``), before counting: :func:`weighted_matrix` counts and weights them."""
    low, high = _checked_settings(analyzer, ngram_range, n_bits)
    _check_line_count(codes, n_texts)
    if _blank(codes, n_texts):
        return _no_columns(n_texts)
    from policy_themes import kernels

    lookup = _NO_LOOKUP if lookup is None else lookup
    hash_columns = kernels.word_columns if analyzer == "word" else kernels.char_wb_columns
    indptr = np.empty(n_texts + 1, dtype=np.int64)
    columns = np.empty(len(codes) * (high - low + 1), dtype=np.int32)  # n_bits <= 31
    found = hash_columns(codes, low, high, np.uint64(64 - n_bits), lookup, indptr, columns)
    return indptr, columns[:found]


def word_and_unigram_columns(codes: np.ndarray | None, n_texts: int, *,
                             ngram_range: tuple[int, int], n_bits: int,
                             lookup: np.ndarray | None, unigram_n_bits: int,
                             unigram_lookup: np.ndarray | None
                             ) -> tuple[tuple[np.ndarray, np.ndarray],
                                        tuple[np.ndarray, np.ndarray]]:
    """:func:`ngram_columns` of word n-grams, and those of the words alone with other settings
    (``unigram_n_bits``, ``unigram_lookup``: another block's), in one pass over the texts:
    the words are found and hashed once."""
    low, high = _checked_settings("word", ngram_range, n_bits)
    _checked_settings("word", (1, 1), unigram_n_bits)
    _check_line_count(codes, n_texts)  # once: a pass over the batch
    if _blank(codes, n_texts):
        return _no_columns(n_texts), _no_columns(n_texts)
    from policy_themes import kernels

    indptr = np.empty(n_texts + 1, dtype=np.int64)
    columns = np.empty(len(codes) * (high - low + 1), dtype=np.int32)
    unigram_indptr = np.empty(n_texts + 1, dtype=np.int64)
    unigram_columns = np.empty(len(codes), dtype=np.int32)
    found, unigrams_found = kernels.word_and_unigram_columns(
        codes, low, high, np.uint64(64 - n_bits), _NO_LOOKUP if lookup is None else lookup,
        indptr, columns, np.uint64(64 - unigram_n_bits),
        _NO_LOOKUP if unigram_lookup is None else unigram_lookup, unigram_indptr,
        unigram_columns)
    return (indptr, columns[:found]), (unigram_indptr, unigram_columns[:unigrams_found])


def _checked_settings(analyzer: str, ngram_range: tuple[int, int], n_bits: int
                      ) -> tuple[int, int]:
    """(low, high) of valid settings for the kernels (ValueError otherwise)."""
    if analyzer not in ANALYZERS:
        raise ValueError(f"analyzer must be one of {ANALYZERS}, not {analyzer!r}")
    if not 1 <= n_bits <= 31:
        raise ValueError(f"n_bits must be from 1 to 31, not {n_bits!r}")
    low, high = (int(n) for n in ngram_range)
    if not 1 <= low <= high <= MAX_N:
        raise ValueError(f"ngram_range must be (low, high) with 1 <= low <= high <= "
                         f"{MAX_N}, not {ngram_range!r}")
    return low, high


def _check_line_count(codes: np.ndarray | None, n_texts: int) -> None:
    """ValueError unless ``codes`` hold ``n_texts`` lines: the kernels trust the count."""
    if n_texts and np.count_nonzero(codes == _NEWLINE) != n_texts - 1:
        raise ValueError(f"codes hold {np.count_nonzero(codes == _NEWLINE) + 1} texts, not "
                         f"{n_texts}")


def _blank(codes: np.ndarray | None, n_texts: int) -> bool:
    """No n-grams at all (and no compiled code to load for them)."""
    return n_texts == 0 or codes.max() <= _SPACE


def _no_columns(n_texts: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n_texts + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)


def weighted_matrix(indptr: np.ndarray, columns: np.ndarray, *, width: int, sublinear_tf: bool,
                    norm: str | None, idf: np.ndarray | None = None) -> sp.csr_matrix:
    """Count each row's columns (``columns[indptr[i]:indptr[i+1]]``) and weight them: the
    float32 TF-IDF matrix of :func:`ngram_matrix`."""
    import scipy.sparse as sp

    idf = _weighting_idf(norm, idf)
    n_rows = len(indptr) - 1
    if len(columns) == 0:
        return sp.csr_matrix((n_rows, width), dtype=np.float32)
    from policy_themes import kernels

    rows_indptr = np.empty(n_rows + 1, dtype=np.int64)
    indices = np.empty(len(columns), dtype=np.int32)
    data = np.empty(len(columns), dtype=np.float32)
    stored = kernels.weighted_rows(indptr, columns, width, kernels.tf_table(sublinear_tf),
                                   sublinear_tf, idf, norm == "l2", rows_indptr, indices, data)
    return sp.csr_matrix((data[:stored], indices[:stored], rows_indptr), shape=(n_rows, width))


def add_weighted_products(indptr: np.ndarray, columns: np.ndarray, weights: np.ndarray,
                          first_row: int, out: np.ndarray, *, width: int, sublinear_tf: bool,
                          norm: str | None, idf: np.ndarray | None = None) -> None:
    """``out += weighted_matrix(indptr, columns, ...) @ weights[first_row:first_row + width]``,
    bit for bit as SciPy computes it (in the weights' precision), without making the matrix:
    the prediction's path, where a row's weights are used once and then dropped."""
    idf = _weighting_idf(norm, idf)
    if len(columns) == 0:
        return
    from policy_themes import kernels

    kernels.add_weighted_products(indptr, columns, width, kernels.tf_table(sublinear_tf),
                                  sublinear_tf, idf, norm == "l2", weights, first_row, out)


def _weighting_idf(norm: str | None, idf: np.ndarray | None) -> np.ndarray:
    """The kernels' idf (empty: none), once ``norm`` is known to be one they apply."""
    if norm not in ("l2", None):
        raise ValueError(f"norm must be 'l2' or None, not {norm!r}")
    return np.zeros(0, dtype=np.float32) if idf is None else np.asarray(idf, dtype=np.float32)


def bucket_lookup(buckets: np.ndarray, n_bits: int) -> np.ndarray:
    """Which of the ``2**n_bits`` buckets are columns, and each one's column (its index in
    ``buckets``), for the compiled loops of :mod:`.kernels`.

    Row ``w`` covers buckets ``64 w`` to ``64 w + 63``: a bit mask of those that are columns,
    and the number of columns before them, so a bucket's column is that number plus the bits
    set below its own. 16 bytes for 64 buckets: 512 KB for ``n_bits=21``, where a table of
    the column of each bucket took 8 MB, most of it read from memory rather than cache.

    Parameters
    ----------
    buckets : ndarray of int
        The columns' buckets, sorted and distinct (``HashedTfidf.buckets_``).
    n_bits : int

    Returns
    -------
    ndarray of uint64, shape (max(2**n_bits // 64, 1), 2)
    """
    buckets = np.asarray(buckets, dtype=np.int64)
    if len(buckets) and (np.any(np.diff(buckets) <= 0) or buckets[0] < 0
                         or buckets[-1] >= 2 ** n_bits):
        raise ValueError(f"buckets must be sorted, distinct and below 2**{n_bits}")
    n_words = max(2 ** n_bits // 64, 1)
    lookup = np.zeros((n_words, 2), dtype=np.uint64)
    np.bitwise_or.at(lookup[:, 0], buckets >> 6,
                     np.left_shift(np.uint64(1), (buckets & 63).astype(np.uint64)))
    per_word = np.bincount(buckets >> 6, minlength=n_words)
    lookup[1:, 1] = np.cumsum(per_word[:-1])
    return lookup
