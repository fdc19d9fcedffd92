"""A sentence's context: its neighbours in the same document, or context columns of a table.

The ``context_words`` and ``context_rules`` feature blocks read it, so a sentence such as
"The sides signed three documents." can borrow its theme from the headline before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from policy_themes.config import ContextConfig
from policy_themes.io.sentence_frames import find_document_column
from policy_themes.text.lines import SEPARATOR

__all__ = ["neighbour_context", "neighbour_rows", "NeighbourContext", "frame_context",
           "context_source"]

def neighbour_context(texts: Sequence[str], documents: Sequence[object], window: int = 1
                      ) -> list[str]:
    """Join each sentence's neighbours (``window`` before and after, same document), one a line.

    Parameters
    ----------
    texts : sequence of str
        Sentences in document order.
    documents : sequence
        Document id of each sentence; a document's sentences need not be contiguous, their
        order of appearance is their order.
    window : int, default=1
        Neighbours on each side.

    Returns
    -------
    list of str

    Examples
    --------
    >>> neighbour_context(["A.", "B.", "C.", "X."], ["d", "d", "d", "e"])
    ['B.', 'A.\\nC.', 'B.', '']
    """
    return list(NeighbourContext(texts, *neighbour_rows(documents, window)))


def neighbour_rows(documents: Sequence[object], window: int = 1
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each sentence's neighbours as rows: sentence ``i``'s are ``rows[indptr[i]:indptr[i+1]]``
    (``window`` before and after it in its document, in document order)."""
    n = len(documents)
    codes, _ = pd.factorize(np.asarray(documents, dtype=object), use_na_sentinel=False)
    # each document's sentences side by side, in their order: a neighbour is a step away
    order = np.argsort(codes, kind="stable")
    grouped = codes[order]
    steps = [*range(-window, 0), *range(1, window + 1)]
    candidates = np.full((n, len(steps)), -1, dtype=np.int64)
    positions = np.arange(n)
    for j, step in enumerate(steps):
        near = positions + step
        inside = (near >= 0) & (near < n)
        same = np.zeros(n, dtype=bool)
        same[inside] = grouped[near[inside]] == grouped[inside]
        candidates[order[same], j] = order[near[same]]
    found = candidates >= 0
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(found.sum(axis=1), out=indptr[1:])
    return indptr, candidates[found]


class NeighbourContext(Sequence):
    """The contexts of sentences as the rows of their neighbours in ``texts``.

    It reads as the list of joined contexts (``SEPARATOR`` between neighbours), so it goes
    wherever contexts as strings do; :class:`~policy_themes.model.arrays.ArrayModel` reads the
    rows instead, and reuses each sentence's own features for the contexts it is part of.

    Parameters
    ----------
    texts : sequence of str
        The sentences the rows point into.
    indptr, rows : ndarray of int64
        What :func:`neighbour_rows` returns.
    first : int, default=0
        The sentence whose context is item 0 (a slice starts further on).
    """

    def __init__(self, texts: Sequence[str], indptr: np.ndarray, rows: np.ndarray,
                 first: int = 0, count: int | None = None):
        self.texts = texts
        self.indptr = indptr
        self.rows = rows
        self.first = first
        self.count = len(indptr) - 1 - first if count is None else count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, item):
        if isinstance(item, slice):
            start, stop, step = item.indices(self.count)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return NeighbourContext(self.texts, self.indptr, self.rows, self.first + start,
                                    max(stop - start, 0))
        if item < 0:
            item += self.count
        if not 0 <= item < self.count:
            raise IndexError("context index out of range")
        row = self.first + item
        return SEPARATOR.join(str(self.texts[r])
                              for r in self.rows[self.indptr[row]:self.indptr[row + 1]])

    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, rows)`` of this slice: item ``i``'s neighbours are rows
        ``rows[indptr[i]:indptr[i+1]]`` of ``texts``."""
        indptr = self.indptr[self.first:self.first + self.count + 1]
        return indptr - indptr[0], self.rows[indptr[0]:indptr[-1]]


def frame_context(frame: pd.DataFrame, settings: ContextConfig, *,
                  doc_column: str | None = None) -> list[str]:
    """The context of every row of a sentence table.

    The table's context columns when it has them all, else the neighbours within the document
    column (:func:`find_document_column`: ``doc_column``, else the first of
    ``settings.document_columns`` present), else empty strings.
    """
    if _has_context_columns(frame.columns, settings):
        parts = frame[list(settings.columns)].fillna("").astype(str)
        return [SEPARATOR.join(v for v in row if v.strip())
                for row in parts.itertuples(index=False)]
    column = find_document_column(frame.columns, settings.document_columns, doc_column)
    if column is None:
        return [""] * len(frame)
    texts = frame["text"].fillna("").astype(str).tolist()
    return NeighbourContext(texts, *neighbour_rows(frame[column].tolist(), settings.window))


def context_source(columns, settings: ContextConfig, *, doc_column: str | None = None
                   ) -> str | None:
    """Where :func:`frame_context` takes a table's context from: its context columns, its
    document column, or None (every sentence is read alone)."""
    if _has_context_columns(columns, settings):
        return ", ".join(settings.columns)
    return find_document_column(columns, settings.document_columns, doc_column)


def _has_context_columns(columns, settings: ContextConfig) -> bool:
    names = {str(c) for c in columns}
    return bool(settings.columns) and all(c in names for c in settings.columns)
