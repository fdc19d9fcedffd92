"""Documents, folders and tables as frames of sentences (policy_themes.io.sentence_frames)."""

import json

import pandas as pd
import pytest

from policy_themes.errors import DataError
from policy_themes.io.sentence_frames import DocumentRows, iter_sentence_frames, sentence_frame


def test_sentence_frames_from_documents_folders_and_tables(tmp_path, seed_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("First. Second one.", encoding="utf-8")
    (folder / "notes.md").write_text("ignored", encoding="utf-8")
    table = tmp_path / "t.jsonl"
    table.write_text(json.dumps({"id": "x1", "body": "Alpha. Beta."}) + "\n", encoding="utf-8")
    frames = list(iter_sentence_frames([folder, table], text_column="body", documents=True))
    assert frames[0]["text"].tolist() == ["First.", "Second one."]
    assert frames[0]["doc_id"].tolist() == ["a", "a"]
    assert frames[1]["text"].tolist() == ["Alpha.", "Beta."]
    assert frames[1]["doc_id"].tolist() == ["x1", "x1"]
    assert frames[1]["sentence"].tolist() == [0, 1]


def test_unsplit_document_rows_split_into_the_same_sentences(tmp_path):
    table = tmp_path / "speeches.csv"
    pd.DataFrame({"doc_id": ["a", "b", "c", "d"], "year": [1990, 1991, 1992, 1993],
                  "text": ["Mr. Smith spoke. Trade grew 2.5%.", "  ", "Peace.\n\nAid came.",
                           "One more."]}).to_csv(table, index=False)
    skipped = []
    split = list(iter_sentence_frames([table], documents=True, chunksize=200))
    unsplit = list(iter_sentence_frames([table], documents=True, chunksize=200, split=False,
                                        on_skip=lambda source, rows: skipped.extend(rows)))
    assert [type(c) for c in unsplit] == [DocumentRows, DocumentRows]  # 2 documents a chunk
    frames = [sentence_frame(c) for c in unsplit]
    assert [len(c) for c in unsplit] == [2, 2]
    for expected, frame in zip(split, frames):
        pd.testing.assert_frame_equal(frame, expected)
    whole = pd.concat(frames)
    assert whole["text"].tolist() == ["Mr. Smith spoke.", "Trade grew 2.5%.", "Peace.",
                                      "Aid came.", "One more."]
    assert whole["year"].tolist() == ["1990", "1990", "1992", "1992", "1993"]
    assert whole.index.tolist() == [2, 2, 4, 4, 5]  # the file row of each sentence's document
    assert skipped == [3]
    assert frames[1].attrs["source"] == str(table)


def test_folder_without_documents(tmp_path):
    (tmp_path / "a.csv").write_text("text\nx\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no .txt documents"):
        list(iter_sentence_frames([tmp_path]))
