"""Contexts as the lines they join: a context is its sentences, ``SEPARATOR`` between them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SEPARATOR", "context_lines"]

#: Between the sentences of a context. The text features read it as a space; the
#: ``context_rules`` block counts each line's rule votes once per batch and adds them up.
SEPARATOR = "\n"


def context_lines(contexts: Sequence[str], texts: Sequence[str] = ()
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each context as the lines it joins, so that a line's features are computed once.

    Parameters
    ----------
    contexts : sequence of str
        Contexts, ``SEPARATOR`` between their lines.
    texts : sequence of str, default=()
        Texts whose features the caller has already: a line equal to one of them is that text.

    Returns
    -------
    indptr, parts : ndarray of int64
        Context ``i``'s lines are ``parts[indptr[i]:indptr[i+1]]``, in order: a part below
        ``len(texts)`` is that text, part ``len(texts) + j`` is ``other_lines[j]``.
    other_lines : list of str
        The other lines, each distinct line once.
    """
    row_of: dict[str, int] = {}
    for row, text in enumerate(texts):
        row_of.setdefault(text, row)
    others: dict[str, int] = {}
    parts: list[int] = []
    indptr = np.zeros(len(contexts) + 1, dtype=np.int64)
    for row, context in enumerate(contexts):
        if context:
            for line in context.split(SEPARATOR):
                part = row_of.get(line)
                parts.append(part if part is not None else
                             len(texts) + others.setdefault(line, len(others)))
        indptr[row + 1] = len(parts)
    return indptr, np.array(parts, dtype=np.int64), list(others)
