"""A sentence's context: its neighbours in the same document, or context columns of a table.

The ``context_words`` and ``context_rules`` feature blocks read it, so a sentence such as
"The sides signed three documents." can borrow its theme from the headline before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .config import ContextConfig

__all__ = ["neighbour_context", "frame_context", "document_column", "SEPARATOR"]

#: Between the sentences of a context. The text features read it as a space; the
#: ``context_rules`` block counts each line's rule votes once per batch and adds them up.
SEPARATOR = "\n"


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
    members: dict[object, list[int]] = {}
    for index, document in enumerate(documents):
        members.setdefault(document, []).append(index)
    context = [""] * len(texts)
    for indices in members.values():
        for k, index in enumerate(indices):
            around = indices[max(k - window, 0):k] + indices[k + 1:k + 1 + window]
            context[index] = SEPARATOR.join(str(texts[i]) for i in around)
    return context


def document_column(frame: pd.DataFrame, settings: ContextConfig) -> str | None:
    """The first of ``settings.document_columns`` that the frame has."""
    return next((c for c in settings.document_columns if c in frame.columns), None)


def frame_context(frame: pd.DataFrame, settings: ContextConfig) -> list[str]:
    """The context of every row of a sentence table.

    The table's context columns when it has them all, else the neighbours within the document
    column, else empty strings.
    """
    if settings.columns and all(c in frame.columns for c in settings.columns):
        parts = frame[list(settings.columns)].fillna("").astype(str)
        return [SEPARATOR.join(v for v in row if v.strip())
                for row in parts.itertuples(index=False)]
    column = document_column(frame, settings)
    if column is None:
        return [""] * len(frame)
    return neighbour_context(frame["text"].tolist(), frame[column].tolist(), settings.window)
