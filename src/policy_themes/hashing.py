"""The n-gram hash: its constants and its finaliser, shared by the array code of
:mod:`policy_themes.features.ngrams` and the compiled loops of :mod:`policy_themes.kernels`,
which must give the same hashes bit for bit."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_N", "BASE", "BASE_INVERSE", "JOIN", "mix"]

MAX_N = 16  # the longest n-grams

BASE = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
BASE_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))
JOIN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def mix(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit.

    Parameters
    ----------
    values : ndarray of uint64 (or one uint64)
        The hashes to mix.
    salt : int
        XOR-ed in first, so that each n-gram length hashes differently.

    Returns
    -------
    ndarray of uint64
    """
    x = values ^ np.uint64(salt)
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x
