"""The loops of prediction, compiled by Numba: n-gram hashing and weighting for
:func:`policy_themes.features.ngrams.ngram_matrix`, and the sparse-times-dense products of
:class:`policy_themes.model.arrays.ArrayModel`.

:mod:`.ngrams` hashes n-grams with array operations: every n-gram of a batch becomes a row of
several arrays, which are then sorted to count them. At archive scale those arrays are most of the
prediction time. Here one pass over a text's normalised UTF-8 bytes hashes each n-gram (the same
hash as :func:`~hash_ngrams`, bit for bit) and looks its bucket up (a word's
character n-grams once a batch: their columns are kept and copied when the word comes back), and
a second pass counts and weights each text's columns (TF-IDF, L2 norm). For prediction,
:func:`add_weighted_products` also multiplies each weighted row by the model's weights as it goes,
without making the matrix; the words of a batch are found once for the word n-grams and the
contexts' unigrams (:func:`word_and_unigram_columns`).

A text's columns come out in the order of their first n-gram, not sorted: the products that use
the matrix do not need sorted columns, and sorting was a third of the time. The products add in
SciPy's order, so the numbers are those of ``X @ weights`` bit for bit.

Numba compiles these functions on first use and caches the machine code beside this file (or in
the user's cache directory when that is not writable), so only the first run pays for it; a cache
that cannot be used is given up with one warning (:mod:`policy_themes.numba_cache`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from policy_themes.hashing import BASE, JOIN, MAX_N
from policy_themes.hashing import mix as _array_mix
from policy_themes.numba_cache import njit  # numba.njit, its cache falling back to memory

__all__ = ["char_wb_columns", "word_columns", "word_and_unigram_columns", "weighted_rows",
           "add_weighted_products", "tf_table", "add_products", "gather_rows",
           "first_use_compiles"]

_SPACE, _NEWLINE = 32, 10
TF_TABLE_SIZE = 4096


@lru_cache(maxsize=2)
def tf_table(sublinear_tf: bool) -> np.ndarray:
    """Term weight of each count below :data:`TF_TABLE_SIZE`, computed by NumPy (``1 + log``
    when sublinear), so that the kernels give NumPy's float32 logarithms bit for bit."""
    counts = np.arange(TF_TABLE_SIZE, dtype=np.float32)
    if not sublinear_tf:
        return counts
    table = np.zeros(TF_TABLE_SIZE, dtype=np.float32)
    table[1:] = np.log(counts[1:]) + np.float32(1)
    return table


# the same finaliser as the array code's, compiled for one value at a time
_mix = njit(cache=True, nogil=True, inline="always")(_array_mix)


_M1, _M2, _M4 = (np.uint64(0x5555555555555555), np.uint64(0x3333333333333333),
                 np.uint64(0x0F0F0F0F0F0F0F0F))
_H01 = np.uint64(0x0101010101010101)


@njit(cache=True, nogil=True, inline="always")
def _popcount(x):
    """Set bits of a uint64 (LLVM turns this into one instruction where there is one)."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@njit(cache=True, nogil=True, inline="always")
def _column(lookup, bucket):
    """The column of a bucket (-1: none): its rank among the buckets that are columns."""
    if lookup.shape[0] == 0:
        return bucket
    word = bucket >> 6
    bits = lookup[word, 0]
    mask = np.uint64(1) << np.uint64(bucket & 63)
    if (bits & mask) == 0:
        return np.int64(-1)
    return np.int64(lookup[word, 1]) + _popcount(bits & (mask - np.uint64(1)))


# words of up to this many bytes have the columns of their character n-grams kept for their
# next occurrences in the batch (longer ones are rare, and rarely come back)
MEMO_WORD_BYTES = 24
_MEMO_BITS = 15  # a table of 32,768 slots, half full at most: 16,384 words a batch are kept


@njit(cache=True, nogil=True, inline="always")
def _memo_slot(codes, first, length, key, slots, entries, word_bytes):
    """The slot of the word ``codes[first:first + length]`` in the memo's table: the one
    that holds it, or the empty one where it goes (open addressing, linear probing)."""
    slot = np.int64(_mix(key, np.uint64(length)) >> np.uint64(64 - _MEMO_BITS))
    while True:
        entry = slots[slot]
        if entry < 0:
            return slot
        if entries[entry, 1] == length:
            kept = entries[entry, 0]
            same = True
            for j in range(length):
                if word_bytes[kept + j] != codes[first + j]:
                    same = False
                    break
            if same:
                return slot
        slot = (slot + 1) & ((1 << _MEMO_BITS) - 1)


@njit(cache=True, nogil=True)
def char_wb_columns(codes, low, high, shift, lookup, indptr, columns):
    """Columns of the character n-grams inside word boundaries of each line of ``codes``.

    The n-grams that start at a word's leading space or inside the word read nothing but the
    word and the spaces around it, so their columns are the same wherever the word occurs:
    those of a word of up to :data:`MEMO_WORD_BYTES` bytes are kept the first time it comes
    and copied when it comes back (most words of a batch do).

    Kept as one loop, over the house's 60-line limit: splitting it would put the memo lookup
    and the hashing in separate compiled functions, and whether that costs speed has not been
    measured yet (``benchmarks/throughput.py`` is the check to run before splitting it).

    Parameters
    ----------
    codes : ndarray of uint8
        A normalised batch (:func:`~policy_themes.rules.matching.normalize_batch_bytes`): lines
        separated by ``\\n``, words by one space, each line padded with a space.
    low, high : int
        Smallest and largest n.
    shift : uint64
        ``64 - n_bits``: a hash's bucket is its top ``n_bits`` bits.
    lookup : ndarray of uint64, shape (n_words, 2)
        :func:`~policy_themes.features.ngrams.bucket_lookup`: which buckets are columns, and the
        column of each; no rows: the bucket is the column.
    indptr : ndarray of int64, shape (n_lines + 1,)
        Filled: line ``i``'s columns are ``columns[indptr[i]:indptr[i + 1]]``.
    columns : ndarray of int32
        Filled; room for ``len(codes) * (high - low + 1)`` is always enough.
    """
    size = codes.shape[0]
    per_byte = high - low + 1
    # the memo: a table of slots pointing to entries (where the word's bytes are kept, its
    # length, where its columns are kept, how many)
    slots = np.full(1 << _MEMO_BITS, -1, dtype=np.int32)
    entries = np.empty((1 << (_MEMO_BITS - 1), 4), dtype=np.int64)
    word_bytes = np.empty(min(size, entries.shape[0] * MEMO_WORD_BYTES), dtype=np.uint8)
    kept_columns = np.empty(min(size * per_byte, 1 << 21), dtype=np.int32)
    n_entries, n_bytes, n_columns = 0, 0, 0
    # the word now hashed to be kept, if any: where it ends, its length, slot and first column
    keep_until, keep_length, keep_slot, keep_from = -1, 0, 0, 0
    line, k = 0, 0
    indptr[0] = 0
    start = 0
    while start < size:
        first = codes[start]
        if first == _NEWLINE:
            line += 1
            indptr[line] = k
            start += 1
            continue
        if first == _SPACE and keep_until < 0:
            end = start + 1
            key = np.uint64(0)
            while end < size and end - start <= MEMO_WORD_BYTES:
                code = codes[end]
                if code == _SPACE or code == _NEWLINE:
                    break
                key = key * BASE + np.uint64(code)
                end += 1
            length = end - start - 1
            if 0 < length <= MEMO_WORD_BYTES and end < size and codes[end] == _SPACE:
                slot = _memo_slot(codes, start + 1, length, key, slots, entries, word_bytes)
                entry = slots[slot]
                if entry >= 0:
                    kept, count = entries[entry, 2], entries[entry, 3]
                    for j in range(count):  # loops, not slices: Numba compiles slice
                        columns[k + j] = kept_columns[kept + j]  # assignment slowly
                    k += count
                    start = end
                    continue
                if (n_entries < entries.shape[0] and n_bytes + length <= word_bytes.shape[0]
                        and n_columns + (length + 1) * per_byte <= kept_columns.shape[0]):
                    keep_until, keep_length, keep_slot, keep_from = end, length, slot, k
        hashed = np.uint64(0)
        power = np.uint64(1)
        for n in range(1, high + 1):
            end = start + n - 1
            if end >= size:
                break
            code = codes[end]
            if code == _NEWLINE or (n >= 3 and codes[end - 1] == _SPACE):
                break  # past the line, or a space inside the window: no longer n either
            hashed += np.uint64(code) * power
            power *= BASE
            if n < low or (n == 1 and first == _SPACE) or (
                    n == 2 and first == _SPACE and code == _SPACE):
                continue
            # written out here and in word_columns: as a helper function, this loop ran slower
            bucket = np.int64(_mix(hashed, np.uint64(100 + n)) >> shift)
            column = _column(lookup, bucket)
            if column >= 0:
                columns[k] = column
                k += 1
        start += 1
        if start == keep_until:  # the word's columns are all found: keep them
            length, count = keep_length, k - keep_from
            for j in range(length):
                word_bytes[n_bytes + j] = codes[start - length + j]
            for j in range(count):
                kept_columns[n_columns + j] = columns[keep_from + j]
            entries[n_entries, 0], entries[n_entries, 1] = n_bytes, length
            entries[n_entries, 2], entries[n_entries, 3] = n_columns, count
            slots[keep_slot] = n_entries
            n_entries, n_bytes, n_columns = n_entries + 1, n_bytes + length, n_columns + count
            keep_until = -1
    indptr[line + 1] = k
    return k


@njit(cache=True, nogil=True)
def word_columns(codes, low, high, shift, lookup, indptr, columns):
    """Columns of the word n-grams of each line of ``codes`` (as :func:`char_wb_columns`).

    Words are runs of bytes other than space and line feed; words of one character are not
    tokens, and an n-gram joins the n tokens that follow each other in a line.
    """
    # empty arrays of the types word_and_unigram_columns passes: one compilation serves both
    return _word_columns(codes, low, high, shift, lookup, indptr, columns, shift,
                         np.zeros((0, 2), dtype=np.uint64), np.zeros(0, dtype=np.int64),
                         np.zeros(0, dtype=np.int32))


@njit(cache=True, nogil=True)
def word_and_unigram_columns(codes, low, high, shift, lookup, indptr, columns, unigram_shift,
                             unigram_lookup, unigram_indptr, unigram_columns):
    """:func:`word_columns`, and in the same pass the columns of the words alone under a
    second lookup (another block's: the unigrams of the contexts), filled into
    ``unigram_indptr`` and ``unigram_columns`` (room for ``len(codes)`` is enough).

    Returns
    -------
    (int, int)
        The columns found for each.
    """
    found = _word_columns(codes, low, high, shift, lookup, indptr, columns, unigram_shift,
                          unigram_lookup, unigram_indptr, unigram_columns)
    return found, unigram_indptr[-1]


@njit(cache=True, nogil=True)
def _word_columns(codes, low, high, shift, lookup, indptr, columns, unigram_shift,
                  unigram_lookup, unigram_indptr, unigram_columns):
    """:func:`word_columns`, and the words' columns under a second lookup when
    ``unigram_indptr`` is not empty."""
    unigrams = unigram_indptr.shape[0] > 0
    size = codes.shape[0]
    recent = np.zeros(MAX_N, dtype=np.uint64)  # the last tokens of the line, a ring
    line, k, seen, u = 0, 0, 0, 0
    indptr[0] = 0
    if unigrams:
        unigram_indptr[0] = 0
    position = 0
    while position < size:
        code = codes[position]
        if code == _NEWLINE:
            line += 1
            indptr[line] = k
            if unigrams:
                unigram_indptr[line] = u
            seen = 0
            position += 1
            continue
        if code == _SPACE:
            position += 1
            continue
        hashed = np.uint64(0)
        power = np.uint64(1)
        characters = 0
        while position < size and codes[position] != _SPACE and codes[position] != _NEWLINE:
            byte = codes[position]
            hashed += np.uint64(byte) * power
            power *= BASE
            if (byte & 0xC0) != 0x80:
                characters += 1
            position += 1
        if characters < 2:
            continue
        token = _mix(hashed, np.uint64(0))
        recent[seen % MAX_N] = token
        seen += 1
        if unigrams:
            column = _column(unigram_lookup, np.int64(token >> unigram_shift))
            if column >= 0:
                unigram_columns[u] = column
                u += 1
        for n in range(low, min(high, seen) + 1):
            joined = recent[(seen - n) % MAX_N]
            for offset in range(seen - n + 1, seen):
                joined = joined * JOIN + recent[offset % MAX_N]
            if n > 1:
                joined = _mix(joined, np.uint64(n))
            bucket = np.int64(joined >> shift)
            column = _column(lookup, bucket)
            if column >= 0:
                columns[k] = column
                k += 1
    indptr[line + 1] = k
    if unigrams:
        unigram_indptr[line + 1] = u
    return k


@njit(cache=True, nogil=True, inline="always")
def _count_line(columns, start, end, counts, unique, first):
    """Count ``columns[start:end]`` in ``counts`` and write each column once, in the order it
    first comes, from ``unique[first]`` on; returns where the line's columns end."""
    stored = first
    for i in range(start, end):
        # written always, kept when new: no branch to mispredict (about half the n-grams of a
        # sentence come again in it, in no order a predictor learns)
        column = columns[i]
        count = counts[column]
        unique[stored] = column
        stored += count == 0
        counts[column] = count + 1
    return stored


@njit(cache=True, nogil=True, inline="always")
def _weigh_line(unique, first, stored, counts, tf, sublinear_tf, idf, l2, values):
    """``values[first:stored]``: the TF-IDF weights of the line's columns
    ``unique[first:stored]``, L2-normalised with ``l2``; their counts go back to zero."""
    total = 0.0
    weighted = idf.shape[0] > 0
    for j in range(first, stored):
        column = unique[j]
        count = counts[column]
        counts[column] = 0
        if count < tf.shape[0]:
            value = tf[count]
        elif sublinear_tf:
            value = np.float32(np.log(np.float32(count))) + np.float32(1)
        else:
            value = np.float32(count)
        if weighted:
            value = value * idf[column]
        values[j] = value
        total += np.float64(value) * np.float64(value)
    if l2 and total > 0:
        norm = np.float32(np.sqrt(total))
        for j in range(first, stored):
            values[j] = values[j] / norm


@njit(cache=True, nogil=True, inline="always")
def _add_line_products(values, columns, start, end, weights, first_row, out, row):
    """``out[row] += values[start:end] @ weights[first_row + columns[start:end]]``, each
    product added in turn (SciPy's order); values are taken in the weights' precision."""
    n_outputs = weights.shape[1]
    i = start
    # four values at a time, added in their order: the total stays in a register across the
    # four, rather than going to memory and back after each
    while i + 4 <= end:
        a, b = weights.dtype.type(values[i]), weights.dtype.type(values[i + 1])
        c, d = weights.dtype.type(values[i + 2]), weights.dtype.type(values[i + 3])
        row_a, row_b = first_row + columns[i], first_row + columns[i + 1]
        row_c, row_d = first_row + columns[i + 2], first_row + columns[i + 3]
        for k in range(n_outputs):
            out[row, k] = (((out[row, k] + a * weights[row_a, k]) + b * weights[row_b, k])
                           + c * weights[row_c, k]) + d * weights[row_d, k]
        i += 4
    while i < end:
        value = weights.dtype.type(values[i])
        weight_row = first_row + columns[i]
        for k in range(n_outputs):
            out[row, k] += value * weights[weight_row, k]
        i += 1


@njit(cache=True, nogil=True)
def weighted_rows(indptr, columns, width, tf, sublinear_tf, idf, l2, out_indptr, out_indices,
                  out_data):
    """Count each line's columns and weight them: ``tf[count] * idf[column]``, then L2 norm.

    Parameters
    ----------
    indptr, columns : ndarray of int64, ndarray of int32
        What :func:`char_wb_columns` or :func:`word_columns` filled.
    width : int
        Number of columns.
    tf : ndarray of float32
        :func:`tf_table`.
    sublinear_tf : bool
        Whether ``tf`` is ``1 + log(count)`` (for counts past the table).
    idf : ndarray of float32
        Weight of each column; empty: 1.
    l2 : bool
        Scale each line to unit length (the sum of squares in float64, as NumPy's).
    out_indptr, out_indices, out_data : ndarray
        The CSR matrix, filled (indices int32, data float32); each line's columns in the order of
        their first n-gram.

    Returns
    -------
    int
        Stored values.
    """
    counts = np.zeros(width, dtype=np.int32)
    stored = 0
    out_indptr[0] = 0
    for line in range(indptr.shape[0] - 1):
        first = stored
        stored = _count_line(columns, indptr[line], indptr[line + 1], counts, out_indices, first)
        _weigh_line(out_indices, first, stored, counts, tf, sublinear_tf, idf, l2, out_data)
        out_indptr[line + 1] = stored
    return stored


@njit(cache=True, nogil=True)
def add_weighted_products(indptr, columns, width, tf, sublinear_tf, idf, l2, weights,
                          first_row, out):
    """``out += W @ weights[first_row:first_row + width]``, where ``W`` is the matrix
    :func:`weighted_rows` would make of the same arguments, bit for bit, without making it:
    each line is counted, weighted and multiplied in turn (no arrays the size of the batch to
    write, read back and convert)."""
    counts = np.zeros(width, dtype=np.int32)
    longest = 0
    for line in range(indptr.shape[0] - 1):
        longest = max(longest, indptr[line + 1] - indptr[line])
    unique = np.empty(longest, dtype=np.int32)
    values = np.empty(longest, dtype=np.float32)
    for line in range(indptr.shape[0] - 1):
        stored = _count_line(columns, indptr[line], indptr[line + 1], counts, unique, 0)
        _weigh_line(unique, 0, stored, counts, tf, sublinear_tf, idf, l2, values)
        _add_line_products(values, unique, 0, stored, weights, first_row, out, line)


@njit(cache=True, nogil=True)
def add_products(indptr, indices, data, weights, first_row, out):
    """``out += X @ weights[first_row:first_row + X.shape[1]]`` for a CSR matrix ``X``.

    The arithmetic of SciPy's ``X @ weights`` (each product added to the row's total in the
    order of the row's stored values), so that the blocks of a feature matrix added one after
    the other give the product of the whole matrix bit for bit, without stacking the blocks.
    SciPy computes in the weights' precision: so does this, whatever ``data``'s.
    """
    for row in range(indptr.shape[0] - 1):
        _add_line_products(data, indices, indptr[row], indptr[row + 1], weights, first_row, out,
                           row)


@njit(cache=True, nogil=True)
def gather_rows(indptr, columns, parts_indptr, parts, out_indptr, out_columns):
    """Rows made of other rows: row ``i`` is the columns of rows
    ``parts[parts_indptr[i]:parts_indptr[i + 1]]`` of (``indptr``, ``columns``), one after the
    other (the word n-grams of a context are those of its lines, when n is 1)."""
    stored = 0
    out_indptr[0] = 0
    for row in range(parts_indptr.shape[0] - 1):
        for p in range(parts_indptr[row], parts_indptr[row + 1]):
            part = parts[p]
            for i in range(indptr[part], indptr[part + 1]):
                out_columns[stored] = columns[i]
                stored += 1
        out_indptr[row + 1] = stored
    return stored


def first_use_compiles() -> bool:
    """Whether Numba's cache holds none of these kernels yet (after installing the package, or
    changing it), so that the first run that calls them compiles them first
    (:func:`~policy_themes.numba_cache.cache_is_empty`)."""
    from policy_themes.numba_cache import cache_is_empty

    return cache_is_empty(__name__)
