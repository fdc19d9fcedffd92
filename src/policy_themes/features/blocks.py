"""scikit-learn transformers of hashed word and character n-grams (see :mod:`.ngrams`).

- :class:`HashedTfidf` learns which buckets occur (``min_df``) and their inverse document
  frequency, like ``TfidfVectorizer``; its columns are the buckets seen in training, and it keeps
  one n-gram per column so that ``predict --explain`` can name them. A fitted one is a few NumPy
  arrays: no dict of strings to unpickle.
- :class:`HashedNgrams` needs no fitting (like ``HashingVectorizer``): every bucket is a column,
  for the streaming trainer that never sees all its data at once.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from policy_themes.features.ngrams import (
    ANALYZERS,
    MAX_N,
    bucket_lookup,
    hash_ngrams,
    iter_chunks,
    ngram_matrix,
)
from policy_themes.limits import MAX_HASH_BITS

__all__ = ["HashedTfidf", "HashedNgrams", "hash_ngrams"]


class _HashedBase(TransformerMixin, BaseEstimator):
    _parameter_constraints: dict = {
        "analyzer": [StrOptions(set(ANALYZERS))],
        "ngram_range": [tuple],
        "sublinear_tf": ["boolean"],
        "norm": [StrOptions({"l2"}), None],
        "n_bits": [Interval(Integral, 8, MAX_HASH_BITS, closed="both")],
        "dtype": "no_validation",  # checked in _check_params: a numpy float type
    }

    def _check_params(self) -> None:
        self._validate_params()
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.float32, np.float64):
            raise InvalidParameterError(
                f"The 'dtype' parameter of {type(self).__name__} must be float32 or float64. "
                f"Got {self.dtype!r} instead.")
        low, high = self.ngram_range if len(self.ngram_range) == 2 else (0, 0)
        if not (isinstance(low, Integral) and isinstance(high, Integral)
                and 1 <= low <= high <= MAX_N):
            raise InvalidParameterError(
                f"The 'ngram_range' parameter of {type(self).__name__} must be a (low, high) "
                f"pair with 1 <= low <= high <= {MAX_N}. Got {self.ngram_range!r} instead.")

    def _settings(self) -> dict:
        return {"analyzer": self.analyzer, "ngram_range": tuple(self.ngram_range),
                "n_bits": int(self.n_bits), "sublinear_tf": bool(self.sublinear_tf),
                "norm": self.norm}


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
        texts = [x if isinstance(x, str) else str(x) for x in X]
        size = 2 ** int(self.n_bits)
        df = np.zeros(size, dtype=np.int64)
        named = np.zeros(size, dtype=bool)
        first_seen: dict[int, bytes] = {}
        for chunk in iter_chunks(texts):
            rows, buckets, text, starts, ends = hash_ngrams(
                chunk, self.analyzer, tuple(self.ngram_range), int(self.n_bits), with_spans=True)
            # document frequency: each (text, bucket) pair once (a sort: faster than np.unique)
            pairs = rows * size + buckets
            pairs.sort()
            if len(pairs):
                pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
            df += np.bincount(pairs % size, minlength=size)
            # a name for each bucket met for the first time: its first occurrence
            new = np.flatnonzero(~named[buckets])
            _, first = np.unique(buckets[new], return_index=True)
            for index in new[first]:
                first_seen[int(buckets[index])] = text[starts[index]:ends[index]]
            named[buckets] = True
        kept = np.flatnonzero(df >= self.min_df)
        if not len(kept) and len(texts):
            raise InvalidParameterError(
                f"The 'min_df' parameter of {type(self).__name__} ({self.min_df}) leaves no "
                f"n-gram: none occurs in that many of the {len(texts)} texts; lower it.")
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
            lookup = bucket_lookup(self.buckets_, int(self.n_bits))
            self.__dict__["_lookup_cache"] = lookup
        return lookup

    def transform(self, X) -> sp.csr_matrix:
        """Return the (n_texts, n_columns) TF-IDF matrix of ``X``."""
        check_is_fitted(self, "buckets_")
        return ngram_matrix(X, **self._settings(), lookup=self._lookup(),
                            n_columns=len(self.buckets_), idf=self.idf_, dtype=self.dtype)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """One n-gram of each column (columns can hold several n-grams that share a bucket)."""
        check_is_fitted(self, "buckets_")
        names = self.names_.tobytes().decode("utf-8", errors="replace").split("\x00")
        return np.array(names, dtype=object)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lookup_cache", None)  # rebuilt on first use
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
        return ngram_matrix(X, **self._settings(), dtype=self.dtype)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names ``#0`` ... ``#<2**n_bits - 1>``: a hashed column has no single n-gram."""
        return np.array([f"#{i}" for i in range(2 ** int(self.n_bits))], dtype=object)
