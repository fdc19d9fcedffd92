"""map_read_chunks: the loop label and predict share."""

import pytest

from policy_themes.workflows.batch_labeling import map_read_chunks


@pytest.mark.parametrize("jobs", [1, 2])
def test_chunks_come_back_in_order_with_the_share_of_the_input_done(jobs):
    chunks = [[1] * 3, [2] * 1, [3] * 4, [4] * 2]
    read = {"share": 0.0}

    def reading():
        for number, chunk in enumerate(chunks, start=1):
            read["share"] = number / len(chunks)  # as iter_sentence_frames reports it
            yield chunk

    out = list(map_read_chunks(len, reading(), jobs=jobs, share_read=lambda: read["share"]))
    assert [chunk for chunk, _, _ in out] == chunks
    assert [result for _, result, _ in out] == [3, 1, 4, 2]
    shares = [share for _, _, share in out]
    assert shares == sorted(shares) and shares[-1] == 1.0
    assert all(0 < share <= 1 for share in shares)
