"""A sentence's context: its neighbours' texts, as strings or as rows."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_themes.config import ContextConfig
from policy_themes.features.context import (
    NeighbourContext,
    frame_context,
    neighbour_context,
    neighbour_rows,
)
from policy_themes.text.lines import context_lines

TEXTS = ["A.", "B.", "C.", "X.", "D.", "Y."]
DOCS = ["d", "d", "d", "e", "d", "e"]


def test_neighbour_rows_stay_in_their_document_in_order():
    indptr, rows = neighbour_rows(DOCS, window=1)
    assert [rows[indptr[i]:indptr[i + 1]].tolist() for i in range(len(DOCS))] == [
        [1], [0, 2], [1, 4], [5], [2], [3]]
    indptr, rows = neighbour_rows(DOCS, window=2)
    assert rows[indptr[2]:indptr[3]].tolist() == [0, 1, 4]
    assert neighbour_rows([], 2)[0].tolist() == [0]


def reference_neighbours(documents, window):
    """Each sentence's neighbours, the plain way."""
    members = {}
    for index, document in enumerate(documents):
        members.setdefault(document, []).append(index)
    around = {}
    for indices in members.values():
        for k, index in enumerate(indices):
            around[index] = indices[max(k - window, 0):k] + indices[k + 1:k + 1 + window]
    return [around[i] for i in range(len(documents))]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", 7, 2.5]), max_size=30), st.integers(0, 3))
def test_neighbour_rows_equal_the_plain_way(documents, window):
    indptr, rows = neighbour_rows(documents, window)
    assert [rows[indptr[i]:indptr[i + 1]].tolist() for i in range(len(documents))] == \
        reference_neighbours(documents, window)


def test_neighbour_context_reads_as_the_joined_strings():
    context = NeighbourContext(TEXTS, *neighbour_rows(DOCS, window=1))
    expected = ["B.", "A.\nC.", "B.\nD.", "Y.", "C.", "X."]
    assert list(context) == expected == neighbour_context(TEXTS, DOCS, 1)
    assert len(context) == 6 and context[-1] == "X." and context[1] == "A.\nC."
    part = context[2:5]
    assert isinstance(part, NeighbourContext) and list(part) == expected[2:5]
    assert list(part[1:]) == expected[3:5] and len(context[5:99]) == 1
    assert context[::2] == expected[::2]
    indptr, rows = part.neighbours()
    assert indptr.tolist() == [0, 2, 3, 4] and rows.tolist() == [1, 4, 5, 2]
    with pytest.raises(IndexError):
        context[6]


def test_frame_context_gives_rows_of_the_document_column():
    frame = pd.DataFrame({"doc_id": DOCS, "text": TEXTS[:5] + [np.nan]})
    context = frame_context(frame, ContextConfig(window=1))
    assert isinstance(context, NeighbourContext)
    assert list(context) == ["B.", "A.\nC.", "B.\nD.", "", "C.", "X."]
    assert frame_context(frame.drop(columns="doc_id"), ContextConfig(window=1)) == [""] * 6


def test_context_lines_point_at_known_texts_and_list_the_others_once():
    indptr, parts, others = context_lines(["A.\nZ.", "", "Z.\nB.\nA."], texts=["A.", "B."])
    assert indptr.tolist() == [0, 2, 2, 5]
    assert parts.tolist() == [0, 2, 2, 1, 0] and others == ["Z."]
    indptr, parts, others = context_lines(["A.\nA."])
    assert parts.tolist() == [0, 0] and others == ["A."]
