"""The sentence splitter of :mod:`policy_themes.text.sentences`, compiled by Numba.

Splitting whole speeches in Python is a large share of what ``predict`` and ``label`` spend on a
sentence (``benchmarks/results/segmentation.md``). This module runs the same rules in
one compiled pass over the text's code points and gives the sentences' ``(start, end)`` spans;
:func:`policy_themes.text.sentences.sentence_spans` then cleans each span in Python as before.

It is the Python splitter rewritten, rule for rule, and has to stay so: the tests compare the
two on random texts built to hit every rule and on real speeches. What the Python code asks of
a character (``isspace``, ``isupper``, ``lower``…) comes from a table that Python itself fills
(:func:`character_table`), so Unicode is answered by the same version of Unicode. The table
covers the Basic Multilingual Plane; a text with a character beyond it is left to Python
(:func:`sentence_bounds` returns -1).

This module imports Numba: :mod:`.sentences` imports it only when it splits a large batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from policy_themes.numba_cache import njit  # numba.njit, its cache falling back to memory

__all__ = ["sentence_bounds", "character_table", "packed_words", "TABLE_SIZE"]

TABLE_SIZE = 0x10000

# bits of the character table
SPACE, UPPER, DIGIT, DECIMAL, LINE_BREAK, LONE_ALPHA, PRINTABLE = 1, 2, 4, 8, 16, 32, 64

_TAB, _LF, _CR, _SPACE_CHAR = 9, 10, 13, 32
_QUOTE, _APOSTROPHE, _OPEN_PAREN, _CLOSE_PAREN = 34, 39, 40, 41
_ASTERISK, _COMMA, _HYPHEN, _FULL_STOP = 42, 44, 45, 46
_EXCLAMATION, _QUESTION = 33, 63
_OPEN_BRACKET, _CLOSE_BRACKET = 91, 93
_ELLIPSIS = 0x2026
_LEFT_DOUBLE, _RIGHT_DOUBLE, _LEFT_SINGLE, _RIGHT_SINGLE = 0x201C, 0x201D, 0x2018, 0x2019
_MIDDLE_DOT, _EN_DASH, _EM_DASH, _BULLET = 0xB7, 0x2013, 0x2014, 0x2022
_SMALL_SQUARE, _BLACK_CIRCLE = 0x25AA, 0x25CF
_SMALL_A, _SMALL_Z = 97, 122


@lru_cache(maxsize=1)
def character_table() -> tuple[np.ndarray, np.ndarray]:
    """What the splitter asks of each character of the Basic Multilingual Plane.

    Returns
    -------
    flags : ndarray of uint8, shape (65536,)
        Bits: ``SPACE`` (``str.isspace``, which is also what the ``re`` module's ``\\s``
        matches), ``UPPER`` (``isupper``), ``DIGIT`` (``isdigit``), ``DECIMAL`` (``isdecimal``:
        ``\\d``), ``LINE_BREAK`` (where ``str.splitlines`` breaks), ``LONE_ALPHA`` (the
        character lowercased is one letter) and ``PRINTABLE`` (``isprintable``).
    lower : ndarray of uint8, shape (65536,)
        The character lowercased where that is one ASCII character, else 0.
    """
    flags = np.zeros(TABLE_SIZE, dtype=np.uint8)
    lower = np.zeros(TABLE_SIZE, dtype=np.uint8)
    for code in range(TABLE_SIZE):
        char = chr(code)
        bits = 0
        if char.isspace():
            bits |= SPACE
        if char.isupper():
            bits |= UPPER
        if char.isdigit():
            bits |= DIGIT
        if char.isdecimal():
            bits |= DECIMAL
        if len(f"a{char}b".splitlines()) > 1:
            bits |= LINE_BREAK
        lowered = char.lower()
        if len(lowered) == 1 and lowered.isalpha():
            bits |= LONE_ALPHA
        if char.isprintable():
            bits |= PRINTABLE
        if len(lowered) == 1 and lowered.isascii():
            lower[code] = ord(lowered)
        flags[code] = bits
    return flags, lower


def packed_words(words: Iterable[str]) -> np.ndarray:
    """ASCII words of up to 16 characters as rows of two uint64 (the kernel's word sets)."""
    rows = [_pack(word) for word in words]
    return np.array(rows, dtype=np.uint64).reshape(len(rows), 2)


def _pack(word: str) -> tuple[int, int]:
    if not word.isascii() or not 0 < len(word) <= 16:
        raise ValueError(f"not an ASCII word of 1 to 16 characters: {word!r}")
    low = sum(ord(c) << (8 * i) for i, c in enumerate(word[:8]))
    high = sum(ord(c) << (8 * i) for i, c in enumerate(word[8:]))
    return low, high


@njit(cache=True, nogil=True)
def sentence_bounds(codes, flags, lower, titles, before_number, starters, out):
    """The ``(start, end)`` of every sentence of a text, as ``sentences._sentence_spans``.

    Parameters
    ----------
    codes : ndarray of uint32
        The text's code points (its UTF-32).
    flags, lower : ndarray of uint8
        :func:`character_table`.
    titles, before_number, starters : ndarray of uint64, shape (n, 2)
        :func:`packed_words` of the splitter's word lists.
    out : ndarray of int64, shape (room, 3)
        Filled with the spans as far as it has room, and whether each is already clean: only
        printable characters and single spaces between them, when ``sentences.clean_span``
        gives it back as it is.

    Returns
    -------
    int
        The number of spans (more than ``room``: call again with that much), or -1 when a code
        point is past the table (the caller splits that text in Python).
    """
    n = codes.shape[0]
    for i in range(n):
        if codes[i] >= flags.shape[0]:
            return -1
    count = 0
    pos = 0
    while pos < n:
        # the block of lines that are not blank from here: how many, and the widest (without
        # white space)
        lines = 0
        wrap_width = 0
        block_end = pos
        while block_end < n:
            end, following = _line(codes, flags, block_end)
            if _blank(codes, flags, block_end, end):
                break
            wrap_width = max(wrap_width, _rstripped_end(codes, flags, block_end, end) - block_end)
            lines += 1
            block_end = following
        if lines == 0:  # a blank line
            pos = following
            continue
        count = _block(codes, flags, lower, titles, before_number, starters, pos, lines,
                       wrap_width, out, count)
        pos = block_end
    return count


@njit(cache=True, nogil=True)
def _line(codes, flags, start):
    """The line at ``start`` as ``str.splitlines(keepends=True)`` cuts it: where it ends once
    ``rstrip("\\r\\n")``, and where the next one starts."""
    n = codes.shape[0]
    j = start
    while j < n and not flags[codes[j]] & LINE_BREAK:
        j += 1
    if j == n:
        following = n
    elif codes[j] == _CR and j + 1 < n and codes[j + 1] == _LF:
        following = j + 2
    else:
        following = j + 1
    end = following
    while end > start and (codes[end - 1] == _CR or codes[end - 1] == _LF):
        end -= 1
    return end, following


@njit(cache=True, nogil=True, inline="always")
def _is_space(flags, code):
    return (flags[code] & SPACE) != 0


@njit(cache=True, nogil=True)
def _blank(codes, flags, start, end):
    for i in range(start, end):
        if not _is_space(flags, codes[i]):
            return False
    return True


@njit(cache=True, nogil=True)
def _rstripped_end(codes, flags, start, end):
    while end > start and _is_space(flags, codes[end - 1]):
        end -= 1
    return end


@njit(cache=True, nogil=True)
def _block(codes, flags, lower, titles, before_number, starters, start, lines, wrap_width, out,
           count):
    """``_block_units`` then ``_split_unit`` of each unit: the ``lines`` lines from ``start``."""
    wrapped = lines >= 3 and wrap_width >= 50
    end, following = _line(codes, flags, start)
    unit_start = _content_start(codes, flags, start, end)
    for _ in range(lines - 1):
        next_start = following
        next_end, following = _line(codes, flags, next_start)
        if _is_hard_break(codes, flags, start, end, next_start, next_end, wrapped, wrap_width):
            count = _split_unit(codes, flags, lower, titles, before_number, starters,
                                unit_start, end, out, count)
            unit_start = _content_start(codes, flags, next_start, next_end)
        start, end = next_start, next_end
    return _split_unit(codes, flags, lower, titles, before_number, starters, unit_start, end,
                       out, count)


@njit(cache=True, nogil=True)
def _is_bullet_mark(code):
    return (code == _HYPHEN or code == _BULLET or code == _SMALL_SQUARE or code == _BLACK_CIRCLE
            or code == _EN_DASH or code == _EM_DASH or code == _ASTERISK or code == _MIDDLE_DOT)


@njit(cache=True, nogil=True, inline="always")
def _is_blank_char(code):
    return code == _SPACE_CHAR or code == _TAB


@njit(cache=True, nogil=True)
def _bullet_end(codes, flags, start, end):
    """Where ``_BULLET_RE.match(text, start, end)`` ends, or -1 when it does not match."""
    p = start
    while p < end and _is_blank_char(codes[p]):
        p += 1
    if p >= end:
        return -1
    mark_end = -1
    if _is_bullet_mark(codes[p]):
        mark_end = p + 1
    else:
        r = p + 1 if codes[p] == _OPEN_PAREN else p
        digits = 0
        while digits < 2 and r + digits < end and flags[codes[r + digits]] & DECIMAL:
            digits += 1
        after = r + digits
        if digits > 0 and after < end and (codes[after] == _FULL_STOP
                                           or codes[after] == _CLOSE_PAREN):
            mark_end = after + 1
        elif (r + 1 < end and _SMALL_A <= codes[r] <= _SMALL_Z
              and (codes[r + 1] == _FULL_STOP or codes[r + 1] == _CLOSE_PAREN)):
            mark_end = r + 2
    if mark_end < 0:
        return -1
    t = mark_end
    while t < end and _is_blank_char(codes[t]):
        t += 1
    return t if t > mark_end else -1


@njit(cache=True, nogil=True)
def _content_start(codes, flags, start, end):
    bullet = _bullet_end(codes, flags, start, end)
    pos = bullet if bullet >= 0 else start
    while pos < end and _is_blank_char(codes[pos]):
        pos += 1
    return pos


@njit(cache=True, nogil=True, inline="always")
def _is_terminal(code):
    return (code == _FULL_STOP or code == _EXCLAMATION or code == _QUESTION
            or code == _ELLIPSIS)


@njit(cache=True, nogil=True, inline="always")
def _is_closer(code):
    return (code == _QUOTE or code == _APOSTROPHE or code == _RIGHT_DOUBLE
            or code == _RIGHT_SINGLE or code == _CLOSE_PAREN or code == _CLOSE_BRACKET)


@njit(cache=True, nogil=True, inline="always")
def _is_quote_or_paren(code):
    """One of ``"'“‘(``."""
    return (code == _QUOTE or code == _APOSTROPHE or code == _LEFT_DOUBLE
            or code == _LEFT_SINGLE or code == _OPEN_PAREN)


@njit(cache=True, nogil=True, inline="always")
def _is_opener(code):
    """One of ``"'“‘([``."""
    return _is_quote_or_paren(code) or code == _OPEN_BRACKET


@njit(cache=True, nogil=True)
def _is_hard_break(codes, flags, start, end, next_start, next_end, wrapped, wrap_width):
    if _bullet_end(codes, flags, next_start, next_end) >= 0:
        return True
    line_end = _rstripped_end(codes, flags, start, end)
    length = line_end - start
    if length == 0:
        return True
    last = codes[line_end - 1]
    if _is_terminal(last) or (_is_closer(last) and length > 1
                              and _is_terminal(codes[line_end - 2])):
        return False
    q = next_start
    while q < next_end and (_is_blank_char(codes[q]) or _is_quote_or_paren(codes[q])):
        q += 1
    if q == next_end or not flags[codes[q]] & (UPPER | DIGIT):
        return False
    if last == _HYPHEN or last == _COMMA:
        return False
    if wrapped and length >= 0.75 * wrap_width:
        return False
    return True


@njit(cache=True, nogil=True)
def _split_unit(codes, flags, lower, titles, before_number, starters, start, end, out, count):
    """The sentences of one unit: what ``_BOUNDARY_RE.finditer(text, start, end)`` finds,
    kept where the next word starts a sentence and no abbreviation ends the last one."""
    sentence_start = start
    pos = start
    while pos < end:
        code = codes[pos]
        if not _is_terminal(code):
            pos += 1
            continue
        q = pos + 1
        if code != _ELLIPSIS:
            while q < end and (codes[q] == _FULL_STOP or codes[q] == _EXCLAMATION
                               or codes[q] == _QUESTION):
                q += 1
        while q < end and _is_closer(codes[q]):
            q += 1
        match_end = q
        white_end = match_end
        while white_end < end and _is_space(flags, codes[white_end]):
            white_end += 1
        if white_end == match_end or white_end == end:
            pos += 1  # no white space then a word: no match here, try the next character
            continue
        o = white_end
        while o < end and _is_opener(codes[o]):
            o += 1
        # the regex's \S+ after the openers; when only openers are left, it backtracks one
        word_start = o if o < end and not _is_space(flags, codes[o]) else o - 1
        word_end = word_start
        while word_end < end and not _is_space(flags, codes[word_end]):
            word_end += 1
        stop = pos
        pos = match_end
        if not flags[codes[word_start]] & (UPPER | DIGIT):
            continue
        if code == _FULL_STOP and _abbreviation_before(codes, flags, lower, titles,
                                                       before_number, starters,
                                                       max(start, stop - 40), stop,
                                                       word_start, word_end):
            continue
        count = _add_span(codes, flags, sentence_start, match_end, out, count)
        sentence_start = white_end
    if sentence_start < end:
        count = _add_span(codes, flags, sentence_start,
                          _rstripped_end(codes, flags, sentence_start, end), out, count)
    return count


@njit(cache=True, nogil=True)
def _add_span(codes, flags, start, end, out, count):
    if count < out.shape[0]:
        clean = end > start and codes[start] != _SPACE_CHAR and codes[end - 1] != _SPACE_CHAR
        for i in range(start, end):
            if not clean:
                break
            clean = (flags[codes[i]] & PRINTABLE) != 0 and not (
                codes[i] == _SPACE_CHAR and i + 1 < end and codes[i + 1] == _SPACE_CHAR)
        out[count, 0] = start
        out[count, 1] = end
        out[count, 2] = clean
    return count + 1


@njit(cache=True, nogil=True)
def _is_ascii_lower(codes, lower, start, end):
    """Whether ``codes[start:end]`` lowercased is ASCII (each character one ASCII one)."""
    for i in range(start, end):
        if lower[codes[i]] == 0:
            return False
    return True


@njit(cache=True, nogil=True)
def _packed_lower(codes, lower, start, end):
    """``codes[start:end]`` lowercased (ASCII, see :func:`_is_ascii_lower`) and packed as
    :func:`packed_words` packs; ``(0, 0)``, which no word packs to, past 16 characters."""
    low = np.uint64(0)
    high = np.uint64(0)
    if end - start > 16:
        return np.uint64(0), np.uint64(0)
    for i in range(start, end):
        k = i - start
        if k < 8:
            low |= np.uint64(lower[codes[i]]) << np.uint64(8 * k)
        else:
            high |= np.uint64(lower[codes[i]]) << np.uint64(8 * (k - 8))
    return low, high


@njit(cache=True, nogil=True)
def _holds(words, low, high):
    for i in range(words.shape[0]):
        if words[i, 0] == low and words[i, 1] == high:
            return True
    return False


@njit(cache=True, nogil=True)
def _abbreviation_before(codes, flags, lower, titles, before_number, starters, begin, stop,
                         word_start, word_end):
    """``_abbreviation_before`` then ``_is_abbreviation``; the next word is
    ``codes[word_start:word_end]``."""
    token_end = _rstripped_end(codes, flags, begin, stop)
    if token_end == begin:
        return False
    token_start = token_end
    while token_start > begin and not _is_space(flags, codes[token_start - 1]):
        token_start -= 1
    while token_start < token_end and _is_opener(codes[token_start]):
        token_start += 1
    length = token_end - token_start
    if length == 0:
        return False
    if not _is_ascii_lower(codes, lower, token_start, token_end):
        # lowercased, it holds a character past ASCII: it is in no list and no acronym, and
        # lowercasing never makes a word shorter
        return length == 1 and (flags[codes[token_start]] & LONE_ALPHA) != 0
    low, high = _packed_lower(codes, lower, token_start, token_end)
    if _holds(titles, low, high):
        return True
    if _holds(before_number, low, high):
        return (flags[codes[word_start]] & DIGIT) != 0
    if length == 1:
        return _SMALL_A <= lower[codes[token_start]] <= _SMALL_Z
    if length < 3 or length % 2 == 0:
        return False
    for i in range(token_start, token_end):
        char = lower[codes[i]]
        if (i - token_start) % 2 == 0:
            if not _SMALL_A <= char <= _SMALL_Z:
                return False
        elif char != _FULL_STOP:
            return False
    # an acronym: ends a sentence only before a usual first word
    a, b = word_start, word_end
    while a < b and _is_quote_or_paren(codes[a]):
        a += 1
    while b > a and _is_quote_or_paren(codes[b - 1]):
        b -= 1
    if not _is_ascii_lower(codes, lower, a, b):
        return True
    low, high = _packed_lower(codes, lower, a, b)
    return not _holds(starters, low, high)
