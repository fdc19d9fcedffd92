"""Word and character n-gram TF-IDF computed with array operations over a whole batch at once.

scikit-learn's ``TfidfVectorizer`` cuts every sentence into n-grams in Python and looks each one up
in a dict of strings; at archive scale that loop is most of the prediction time. Here a batch of
sentences is normalised like the rules' text (lower case, runs of other characters than letters
and digits as one space: :func:`~policy_themes.matching.normalize_batch_bytes`) as UTF-8 bytes,
and every n-gram is hashed with NumPy in one pass: a polynomial hash over the bytes (for words,
prefix sums modulo 2**64 give any slice's hash in O(1)), mixed and cut to ``n_bits`` bits. The
vocabulary is the array of hash buckets seen in training, so a fitted vectorizer is a few arrays.

Two transformers share the hashing:

- :class:`HashedTfidf` learns which buckets occur (``min_df``) and their inverse document
  frequency, like ``TfidfVectorizer``; its columns are the buckets seen in training, and it keeps
  one n-gram per column so that ``predict --explain`` can name them.
- :class:`HashedNgrams` needs no fitting (like ``HashingVectorizer``): every bucket is a column,
  for the streaming trainer that never sees all its data at once.

Character n-grams (``analyzer="char_wb"``) are taken inside word boundaries, each word padded with
a space on both sides, over the UTF-8 bytes (for text outside ASCII an n-gram can end inside a
character; it is hashed all the same). Words of one character are not tokens (as in
scikit-learn's default ``token_pattern``) but count for character n-grams.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from .matching import normalize_batch_bytes

__all__ = ["HashedTfidf", "HashedNgrams", "hash_ngrams"]

ANALYZERS = ("word", "char_wb")

_BASE = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_BASE_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))
_JOIN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SPACE, _NEWLINE = 32, 10
_CHUNK_BYTES = 1 << 19


class _Powers:
    """``_BASE**i`` and ``_BASE**-i`` modulo 2**64, grown on demand."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=np.uint64)
        self.down = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up))
            with np.errstate(over="ignore"):
                self.up = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BASE)],
                                     dtype=np.uint64)
                self.down = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BASE_INVERSE)],
                                       dtype=np.uint64)
        return self.up[:n], self.down[:n]


_POWERS = _Powers()


def _mix(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    x = values ^ np.uint64(salt)
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


class _Batch:
    """A batch of texts as normalised UTF-8 bytes, with the prefix hashes of its bytes."""

    def __init__(self, texts: Sequence[str]):
        self.n_texts = len(texts)
        self.bytes = normalize_batch_bytes(texts)
        n = len(self.bytes)
        up, self.down = _POWERS.get(n + 1)
        self.prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(self.bytes * up[:n], out=self.prefix[1:])
        self.separator = (self.bytes == _SPACE) | (self.bytes == _NEWLINE)
        self.row = np.cumsum(self.bytes == _NEWLINE, dtype=np.int64)

    def slice_hashes(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Hash of each byte slice ``[start, end)``, the same wherever the slice lies."""
        return (self.prefix[ends] - self.prefix[starts]) * self.down[starts]

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
    tokens = _mix(batch.slice_hashes(starts, ends), 0)
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
            hashes = hashes * _JOIN + tokens[k: k + count]
        hashes = hashes[same_row] if n > 1 else hashes
        if n > 1:
            hashes = _mix(hashes, n)
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
    for n in range(2, ngram_range[1] + 1):
        count = size - n + 1
        if count <= 0:
            break
        power = power * int(_BASE) % 2**64
        hashes = hashes[:count] + wide[n - 1:] * np.uint64(power)
        if n < ngram_range[0]:
            continue
        valid = (run[:count] >= n - 2) & inside_row[:count] & inside_row[n - 1:]
        if n == 2:
            valid &= ~(batch.separator[:count] & batch.separator[1:])
        starts = np.flatnonzero(valid)
        all_rows.append(batch.row[starts])
        all_hashes.append(_mix(hashes[starts], 100 + n))
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


def _counts(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Sparse count matrix: how often each column occurs in each row (sorted, no duplicates)."""
    n_rows, n_columns = shape
    keys = rows * n_columns + columns
    keys.sort()  # NumPy's vectorised sort: several times faster than scipy's sum_duplicates
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    unique = keys[starts]
    counts = np.diff(np.append(starts, len(keys))).astype(np.float32)
    unique_rows = unique // n_columns
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_rows, minlength=n_rows), out=indptr[1:])
    matrix = sp.csr_matrix((counts, (unique % n_columns).astype(np.int32), indptr), shape=shape)
    matrix.has_canonical_format = True
    return matrix


def _weight(matrix: sp.csr_matrix, sublinear_tf: bool, idf: np.ndarray | None,
            norm: str | None) -> sp.csr_matrix:
    if sublinear_tf:
        np.log(matrix.data, out=matrix.data)
        matrix.data += 1
    if idf is not None:
        matrix.data *= idf[matrix.indices]
    if norm == "l2":
        lengths = np.diff(matrix.indptr)
        rows = np.repeat(np.arange(matrix.shape[0]), lengths)
        norms = np.sqrt(np.bincount(rows, weights=matrix.data.astype(np.float64) ** 2,
                                    minlength=matrix.shape[0]))
        norms[norms == 0] = 1
        matrix.data /= norms[rows].astype(matrix.dtype)
    elif norm is not None:
        raise ValueError(f"norm must be 'l2' or None, not {norm!r}")
    return matrix


class _HashedBase(TransformerMixin, BaseEstimator):
    _parameter_constraints: dict = {
        "analyzer": [StrOptions(set(ANALYZERS))],
        "ngram_range": [tuple],
        "sublinear_tf": ["boolean"],
        "norm": [StrOptions({"l2"}), None],
        "n_bits": [Interval(Integral, 8, 30, closed="both")],
        "dtype": "no_validation",
    }

    def _check_params(self) -> None:
        self._validate_params()
        low, high = self.ngram_range if len(self.ngram_range) == 2 else (0, 0)
        if not (isinstance(low, Integral) and isinstance(high, Integral) and 1 <= low <= high):
            raise InvalidParameterError(
                f"The 'ngram_range' parameter of {type(self).__name__} must be a (low, high) "
                f"pair with 1 <= low <= high. Got {self.ngram_range!r} instead.")

    def _texts(self, X) -> list[str]:
        return [x if isinstance(x, str) else str(x) for x in X]

    def _chunks(self, texts: list[str]):
        """Batches of at most ``_CHUNK_BYTES`` characters (and one text at least), so that the
        arrays of a batch stay small whatever the caller passes."""
        start, size = 0, 0
        for end, text in enumerate(texts):
            size += len(text) + 3
            if size > _CHUNK_BYTES and end > start:
                yield start, texts[start:end]
                start, size = end, len(text) + 3
        if start < len(texts) or not texts:
            yield start, texts[start:]

    def _hash(self, texts: list[str], **kwargs):
        return hash_ngrams(texts, self.analyzer, tuple(self.ngram_range), int(self.n_bits),
                           **kwargs)

    def _matrix(self, X, columns_of, n_columns: int, idf) -> sp.csr_matrix:
        texts = self._texts(X)
        blocks = []
        for _, chunk in self._chunks(texts):
            rows, buckets = self._hash(chunk)
            rows, columns = columns_of(rows, buckets)
            counts = _counts(rows, columns, (len(chunk), n_columns))
            blocks.append(_weight(counts, self.sublinear_tf, idf, self.norm))
        matrix = blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
        return matrix.astype(self.dtype, copy=False)

    def _more_tags(self):
        return {"X_types": ["string"]}


class HashedTfidf(_HashedBase):
    """TF-IDF of hashed word or character n-grams, with the buckets seen in training as columns.

    A drop-in for ``TfidfVectorizer(sublinear_tf=..., ngram_range=..., min_df=...)`` on text
    normalised like the rules' text, several times faster and stored as arrays.

    Parameters
    ----------
    analyzer : {"word", "char_wb"}, default="word"
        Word n-grams, or character n-grams inside word boundaries.
    ngram_range : tuple of int, default=(1, 1)
        Smallest and largest n.
    min_df : int, default=1
        Keep the buckets that occur in at least this many training texts.
    sublinear_tf : bool, default=False
        Use ``1 + log(tf)`` for the term frequency.
    norm : {"l2", None}, default="l2"
        Normalise each row to unit length.
    n_bits : int, default=21
        Hash ``2**n_bits`` buckets; two n-grams of the training data share a column with a
        probability of about (n-grams seen) / 2**n_bits.
    dtype : numpy dtype, default=np.float32
        Of the output matrix.

    Attributes
    ----------
    buckets_ : ndarray of int64
        The bucket of each column, sorted.
    idf_ : ndarray of float32
        Inverse document frequency of each column: ``log((1 + n) / (1 + df)) + 1``.
    names_ : ndarray of uint8
        One n-gram of each column (its first occurrence in training), UTF-8, ``\\x00`` between.
    """

    _parameter_constraints: dict = {
        **_HashedBase._parameter_constraints,
        "min_df": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 1),
                 min_df: int = 1, sublinear_tf: bool = False, norm: str | None = "l2",
                 n_bits: int = 21, dtype=np.float32):
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.norm = norm
        self.n_bits = n_bits
        self.dtype = dtype

    def fit(self, X, y=None):
        """Learn the buckets that occur in ``X`` (at least ``min_df`` times) and their idf."""
        self._check_params()
        texts = self._texts(X)
        size = 2 ** int(self.n_bits)
        df = np.zeros(size, dtype=np.int64)
        first_seen: dict[int, bytes] = {}
        for _, chunk in self._chunks(texts):
            rows, buckets, text, starts, ends = self._hash(chunk, with_spans=True)
            pairs = np.unique(rows.astype(np.uint64) << np.uint64(self.n_bits)
                              | buckets.astype(np.uint64))
            df += np.bincount((pairs & np.uint64(size - 1)).astype(np.int64), minlength=size)
            _, first = np.unique(buckets, return_index=True)
            for index in first:
                first_seen.setdefault(int(buckets[index]), text[starts[index]:ends[index]])
        kept = np.flatnonzero(df >= self.min_df)
        self.buckets_ = kept.astype(np.int64)
        self.idf_ = (np.log((1 + len(texts)) / (1 + df[kept])) + 1).astype(np.float32)
        names = b"\x00".join(first_seen[int(b)] for b in kept)
        self.names_ = np.frombuffer(names, dtype=np.uint8).copy()
        self.n_features_in_ = 1
        self.__dict__.pop("_lookup_cache", None)
        return self

    def _lookup(self) -> np.ndarray:
        lookup = self.__dict__.get("_lookup_cache")
        if lookup is None:
            lookup = np.full(2 ** int(self.n_bits), -1, dtype=np.int32)
            lookup[self.buckets_] = np.arange(len(self.buckets_), dtype=np.int32)
            self.__dict__["_lookup_cache"] = lookup
        return lookup

    def transform(self, X) -> sp.csr_matrix:
        """Return the (n_texts, n_columns) TF-IDF matrix of ``X``."""
        check_is_fitted(self, "buckets_")
        lookup = self._lookup()

        def known(rows, buckets):
            columns = lookup[buckets]
            keep = columns >= 0
            return rows[keep], columns[keep].astype(np.int64)

        return self._matrix(X, known, len(self.buckets_), self.idf_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """One n-gram of each column (columns can hold several n-grams that share a bucket)."""
        check_is_fitted(self, "buckets_")
        names = self.names_.tobytes().decode("utf-8", errors="replace").split("\x00")
        return np.array(names, dtype=object)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lookup_cache", None)  # 4 bytes a bucket: rebuilt on first use
        return state


class HashedNgrams(_HashedBase):
    """Hashed word or character n-grams in ``2**n_bits`` columns, with no fitting.

    The streaming trainer's features: like ``HashingVectorizer(alternate_sign=False)``, with
    the batch hashing of :func:`hash_ngrams`.

    Parameters
    ----------
    analyzer : {"word", "char_wb"}, default="word"
    ngram_range : tuple of int, default=(1, 2)
    sublinear_tf : bool, default=False
        Use ``1 + log(tf)``.
    norm : {"l2", None}, default="l2"
    n_bits : int, default=19
        ``2**n_bits`` columns.
    dtype : numpy dtype, default=np.float32
    """

    def __init__(self, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 2),
                 sublinear_tf: bool = False, norm: str | None = "l2", n_bits: int = 19,
                 dtype=np.float32):
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.sublinear_tf = sublinear_tf
        self.norm = norm
        self.n_bits = n_bits
        self.dtype = dtype

    def fit(self, X=None, y=None):
        """Check the parameters; hashing learns nothing."""
        self._check_params()
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> sp.csr_matrix:
        """Return the (n_texts, 2**n_bits) matrix of ``X``."""
        check_is_fitted(self, "n_features_in_")
        return self._matrix(X, lambda rows, buckets: (rows, buckets), 2 ** int(self.n_bits),
                            None)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names ``#0`` ... ``#<2**n_bits - 1>``: a hashed column has no single n-gram."""
        return np.array([f"#{i}" for i in range(2 ** int(self.n_bits))], dtype=object)
