"""Split documents into sentences with character offsets.

The splitter is rule-based and tuned for press releases, speeches and UN records: it keeps
honorifics and abbreviations (H.E., Mr., Dr., U.S., e.g., No. 5), decimals (2.5%) and initials
inside a sentence, splits inside multi-sentence quotations, treats headings, lines without final
punctuation and bullet items as sentences of their own, and joins hard-wrapped lines (undoing
hyphenated line breaks). ``benchmarks/segmentation.py`` compares it with blingfire and pysbd.

Each sentence keeps ``start`` and ``end`` offsets into the original document; its ``text`` is
``clean_span(document[start:end])``: white space folded to single spaces and hyphenated line breaks
joined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Sentence", "split_sentences", "sentence_spans", "clean_span",
           "iter_document_sentences", "document_spans", "document_span_columns",
           "prepare_compiled_splitter",
           "COMPILED_SPLIT_AFTER", "COMPILED_MAX_CHARS"]

# Loading the compiled splitter (Numba, its machine code and its table) costs a fixed time that
# the characters it then splits faster pay back (benchmarks/segmentation.py). A process uses it
# once it is loaded, or once it has split this many characters in Python (about 110,000
# sentences), when the rest is likely to pay.
COMPILED_SPLIT_AFTER = 16_000_000
# The kernel reads a text as 4 bytes a character: a longer one (a whole archive in one file) is
# split in Python, at half the speed, rather than copied whole.
COMPILED_MAX_CHARS = 4_000_000
_split_in_python = 0  # characters this process has split in Python so far
_compiled_loaded = False

# Abbreviations that never end a sentence when followed by a capitalised word.
_TITLES = {
    "mr", "mrs", "ms", "messrs", "mme", "mlle", "dr", "prof", "h.e", "hh", "st", "gen", "lt",
    "col", "maj", "capt", "cpt", "sgt", "adm", "cmdr", "gov", "sen", "rep", "amb", "hon", "rt",
    "rev", "fr", "sr", "jr", "sir", "excl", "pres", "supt", "insp", "e.g", "i.e", "cf", "viz",
    "vs", "v", "al", "approx", "ca", "dept", "govt", "est", "jan", "feb", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "mln", "bln", "bn", "min",
}
# Abbreviations that only stay inside a sentence when a number follows ("No. 5", "Art. 51").
_BEFORE_NUMBER = {
    "no", "nos", "art", "arts", "para", "paras", "p", "pp", "vol", "sec", "ch", "fig", "op",
}
# After an acronym such as "U.S." a sentence is taken to end only before these words.
_SENTENCE_STARTERS = {
    "the", "this", "that", "these", "those", "it", "its", "we", "our", "i", "he", "she", "they",
    "there", "in", "on", "at", "as", "but", "however", "a", "an", "his", "her", "their", "all",
    "both", "today", "yesterday", "meanwhile", "moreover", "furthermore", "such", "if", "when",
    "while", "after", "before", "during", "for", "since", "with", "according",
}

# a run of . ! ? or one ellipsis, closing quotes or brackets, then white space (group 1) and
# the next word (group 2, after any opening quotes or brackets) in the same unit; written to
# start with a character set, which lets the regex engine skip to the candidates
_BOUNDARY_RE = re.compile(
    r"[.!?\u2026](?:(?<=\u2026)|(?<=[.!?])[.!?]*)[\"'\u201d\u2019)\]]*"
    r"(?=(\s+)[\"'\u201c\u2018(\[]*(\S+))"
)
_BULLET_RE = re.compile(
    r"[ \t]*(?:[-\u2022\u25aa\u25cf\u2013\u2014*\u00b7]|\(?\d{1,2}[.)]|\(?[a-z][.)])[ \t]+"
)
_TERMINAL = ".!?\u2026"
_CLOSERS = "\"'\u201d\u2019)]"
_HYPHEN_BREAK_RE = re.compile(r"(\w)-[ \t]*\r?\n[ \t]*(?=[a-z])")
_HYPHEN_COMPOUND_BREAK_RE = re.compile(r"(\w-)[ \t]*\r?\n[ \t]*(?=\w)")
_ACRONYM_RE = re.compile(r"(?:[a-z]\.)+[a-z]")


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document.

    Attributes
    ----------
    doc_id : str
        Id of the document the sentence comes from.
    index : int
        Position of the sentence in its document, from 0.
    start, end : int
        Character offsets of the sentence in the original document text.
    text : str
        The cleaned sentence: ``clean_span(document[start:end])``.
    """

    doc_id: str
    index: int
    start: int
    end: int
    text: str


def clean_span(span: str) -> str:
    """Fold white space and join hyphenated line breaks ("inter-\\nnational" → "international").

    A break after a hyphen before a capital keeps the hyphen ("Russian-\\nAzerbaijani" →
    "Russian-Azerbaijani").
    """
    if "\n" in span and "-" in span:  # both joins need both: most sentences skip them
        span = _HYPHEN_COMPOUND_BREAK_RE.sub(r"\1", _HYPHEN_BREAK_RE.sub(r"\1", span))
    elif span.isprintable() and "  " not in span and span[:1] != " " and span[-1:] != " ":
        return span  # its only white space is single inner spaces: nothing to fold
    # str.split() splits on exactly the characters ``\s`` matches, faster than a regex
    return " ".join(span.split())


def split_sentences(text: str, doc_id: str = "doc") -> list[Sentence]:
    """Split one document into sentences.

    Parameters
    ----------
    text : str
        The document: plain text, any line endings.
    doc_id : str, default="doc"
        Id stored on every sentence.

    Returns
    -------
    list of Sentence
        Sentences in document order with offsets into ``text``.

    Examples
    --------
    >>> [s.text for s in split_sentences("H.E. Mr. Aliyev spoke. Growth was 2.5%.")]
    ['H.E. Mr. Aliyev spoke.', 'Growth was 2.5%.']
    """
    return [Sentence(doc_id, index, start, end, cleaned)
            for index, (start, end, cleaned) in enumerate(sentence_spans(text))]


def sentence_spans(text: str, *, compiled: bool = False) -> list[tuple[int, int, str]]:
    """``(start, end, text)`` of every sentence of a document, in order: what
    :func:`split_sentences` gives, without building a :class:`Sentence` for each (a fifth of
    the time when splitting an archive).

    Parameters
    ----------
    text : str
        The document.
    compiled : bool, default=False
        Find the sentences with :mod:`policy_themes.text.split_kernel` (the same rules compiled by
        Numba; the cleaning stays in Python): worth it for a batch of documents, not for a few
        lines, as its first use in a process loads Numba.

    Examples
    --------
    >>> sentence_spans("Talks began. Trade grew.")
    [(0, 12, 'Talks began.'), (13, 24, 'Trade grew.')]
    """
    return list(zip(*_span_columns(text, compiled)))


SpanColumns = tuple[list[int], list[int], list[str]]


def _span_columns(text: str, compiled: bool) -> SpanColumns:
    """:func:`sentence_spans` as three lists: starts, ends and texts."""
    if compiled:
        columns = _compiled_columns(text)
        if columns is not None:
            return columns
    starts, ends, texts = [], [], []
    for start, end in _sentence_spans(text):
        cleaned = clean_span(text[start:end])
        if cleaned:
            starts.append(start)
            ends.append(end)
            texts.append(cleaned)
    return starts, ends, texts


def document_spans(texts: Iterable[str]) -> Iterator[list[tuple[int, int, str]]]:
    """:func:`sentence_spans` of each of many documents, in order.

    The compiled splitter does the work when this process has it loaded already (see
    :func:`prepare_compiled_splitter`) or has split :data:`COMPILED_SPLIT_AFTER` characters
    without it; the spans are the same either way.
    """
    for columns in document_span_columns(texts):
        yield list(zip(*columns))


def document_span_columns(texts: Iterable[str]) -> Iterator[SpanColumns]:
    """:func:`document_spans` of each document as three lists (starts, ends, texts): no tuple
    per sentence, for a caller that makes columns of them."""
    global _split_in_python
    for text in texts:
        compiled = _compiled_loaded or _split_in_python >= COMPILED_SPLIT_AFTER
        if not compiled:
            _split_in_python += len(text)
        yield _span_columns(text, compiled)


def prepare_compiled_splitter(_argument: str = "") -> None:
    """Load the compiled splitter now (compile it, the first time after installing), so that
    :func:`document_spans` uses it from the first document: the fork server of a large run
    calls this once for all its workers."""
    _compiled_columns("Talks began. Trade grew.")


def iter_document_sentences(documents: Iterable[tuple[str, str]]) -> Iterator[Sentence]:
    """Yield the sentences of many ``(doc_id, text)`` documents, lazily, in order."""
    for doc_id, text in documents:
        yield from split_sentences(text, doc_id)


def _sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of every sentence: units of lines, then boundaries inside each unit."""
    for unit_start, unit_end in _units(text):
        yield from _split_unit(text, unit_start, unit_end)


def _compiled_columns(text: str) -> SpanColumns | None:
    """:func:`_span_columns` by :func:`~policy_themes.text.split_kernel.sentence_bounds`; None for
    a text that holds a character beyond the Basic Multilingual Plane or is longer than
    :data:`COMPILED_MAX_CHARS`."""
    global _compiled_loaded
    if len(text) > COMPILED_MAX_CHARS:
        return None
    import numpy as np

    from policy_themes.text import split_kernel

    flags, lower = split_kernel.character_table()
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    room = len(codes) // 32 + 64  # a sentence has 150 characters on average
    while True:
        out = np.empty((room, 3), dtype=np.int64)
        count = split_kernel.sentence_bounds(codes, flags, lower, *_packed_word_lists(), out)
        _compiled_loaded = True
        if count <= room:
            break
        room = count
    if count < 0:
        return None
    # flat lists of ints: a list or tuple per span would be garbage the collector has to walk
    starts, ends, clean = out[:count].T.tolist()
    texts = [text[start:end] for start, end in zip(starts, ends)]
    if not all(clean):  # most sentences are clean already
        for i in [i for i, is_clean in enumerate(clean) if not is_clean]:
            texts[i] = clean_span(texts[i])
        if not all(texts):
            kept = [i for i, cleaned in enumerate(texts) if cleaned]
            starts, ends, texts = ([column[i] for i in kept] for column in (starts, ends, texts))
    return starts, ends, texts


@lru_cache(maxsize=1)
def _packed_word_lists():
    from policy_themes.text.split_kernel import packed_words

    return (packed_words(sorted(_TITLES)), packed_words(sorted(_BEFORE_NUMBER)),
            packed_words(sorted(_SENTENCE_STARTERS)))


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line, without its line ending."""
    spans = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        spans.append((pos, pos + len(body)))
        pos += len(line)
    return spans


def _units(text: str) -> Iterator[tuple[int, int]]:
    """Yield runs of lines that belong together: paragraphs split at headings and bullets."""
    block: list[tuple[int, int]] = []
    for start, end in _lines(text):
        if text[start:end].strip():
            block.append((start, end))
        elif block:
            yield from _block_units(text, block)
            block = []
    if block:
        yield from _block_units(text, block)


def _block_units(text: str, block: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Split a block of non-blank lines where a line break is a hard break."""
    lines = [text[s:e].rstrip() for s, e in block]
    wrap_width = max(map(len, lines))
    wrapped = len(block) >= 3 and wrap_width >= 50
    unit_start = _content_start(text, *block[0])
    for i in range(len(block) - 1):
        next_start, next_end = block[i + 1]
        if _is_hard_break(lines[i], text, next_start, next_end, wrapped, wrap_width):
            yield unit_start, block[i][1]
            unit_start = _content_start(text, next_start, next_end)
    yield unit_start, block[-1][1]


def _content_start(text: str, start: int, end: int) -> int:
    """Offset where a line's content begins, past indentation and any bullet marker."""
    bullet = _BULLET_RE.match(text, start, end)
    pos = bullet.end() if bullet else start
    while pos < end and text[pos] in " \t":
        pos += 1
    return pos


def _is_hard_break(line, text, next_start, next_end, wrapped, wrap_width) -> bool:
    """Decide whether the break after ``line`` (without its trailing white space) ends a
    sentence unit; the next line is ``text[next_start:next_end]``."""
    if _BULLET_RE.match(text, next_start, next_end):
        return True
    if not line:
        return True
    if line[-1] in _TERMINAL or (line[-1] in _CLOSERS and len(line) > 1 and line[-2] in _TERMINAL):
        return False  # the boundary regex decides, so "Mr.\nSmith" stays together
    next_line = text[next_start:next_end].lstrip(" \t\"'\u201c\u2018(")
    if not next_line or not (next_line[0].isupper() or next_line[0].isdigit()):
        return False  # a wrapped line continues in lower case
    if line.endswith(("-", ",")):
        return False
    if wrapped and len(line) >= 0.75 * wrap_width:
        return False  # hard-wrapped prose that continues with a capitalised word
    return True  # a heading or a line without final punctuation


def _split_unit(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Yield sentence spans inside one unit using punctuation and the abbreviation lists."""
    sent_start = start
    for match in _BOUNDARY_RE.finditer(text, start, end):
        next_word = match.group(2)
        first = next_word[0]
        if not (first.isupper() or first.isdigit()):
            continue  # a sentence starts with a capital or a digit
        stop = match.start()
        if text[stop] == "." and _abbreviation_before(text, max(start, stop - 40), stop,
                                                      next_word):
            continue
        yield sent_start, match.end()
        sent_start = match.end(1)  # past the white space
    if sent_start < end:
        yield sent_start, _trim_end(text, sent_start, end)


def _trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _abbreviation_before(text: str, begin: int, stop: int, next_word: str) -> bool:
    """Whether the word that ends at the full stop at ``stop`` (looked for from ``begin``:
    abbreviations are short, 40 characters are plenty) is an abbreviation."""
    words = text[begin:stop].rsplit(None, 1)
    if not words:
        return False
    token = words[-1].lstrip("\"'\u201c\u2018([").lower()
    return _is_abbreviation(token, next_word)


def _is_abbreviation(token: str, next_word: str) -> bool:
    """Whether a token followed by a full stop is an abbreviation, given the next word."""
    if not token:
        return False
    if token in _TITLES:
        return True
    if token in _BEFORE_NUMBER:
        return next_word[0].isdigit()
    if len(token) == 1 and token.isalpha():
        return True  # an initial: "J. Smith", "H. E."
    if "." in token and _ACRONYM_RE.fullmatch(token):
        # an acronym such as u.s, u.n, u.k: ends a sentence only before a usual first word
        return next_word.strip("\"'\u201c\u2018(").lower() not in _SENTENCE_STARTERS
    return False
