import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from policy_themes.errors import DataError
from policy_themes.io.decoding import read_document
from policy_themes.io.formats import file_format
from policy_themes.io.labels import parse_themes, read_labeled
from policy_themes.io.sentence_frames import DocumentRows, iter_sentence_frames, sentence_frame
from policy_themes.io.tables import iter_table, read_table
from policy_themes.io.writers import AtomicTableWriter, atomic_write_text


def test_file_format_from_extension(tmp_path):
    assert file_format("a.csv") == "csv"
    assert file_format("a.CSV.gz") == "csv"
    assert file_format("a.ndjson") == "jsonl"
    assert file_format("a.parquet") == "parquet"
    with pytest.raises(DataError, match="unknown file type"):
        file_format("a.xlsx")


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz"])
def test_tables_round_trip_through_the_atomic_writer(tmp_path, suffix):
    frame = pd.DataFrame({"text": ["Oil, gas.", 'He said "yes".'], "themes": ["a", "b;c"]})
    path = tmp_path / f"t{suffix}"
    with AtomicTableWriter(path) as writer:
        writer.write(frame.iloc[:1])
        writer.write(frame.iloc[1:])
    back = read_table(path)
    assert back["text"].tolist() == frame["text"].tolist()
    assert back["themes"].tolist() == frame["themes"].tolist()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_failed_write_leaves_the_previous_file_untouched(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("text\nold\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with AtomicTableWriter(path) as writer:
            writer.write(pd.DataFrame({"text": ["new"]}))
            raise RuntimeError("interrupted")
    assert path.read_text(encoding="utf-8") == "text\nold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_writer_refuses_a_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        with AtomicTableWriter(tmp_path / "nope" / "out.csv"):
            pass


def test_atomic_write_text(tmp_path):
    path = tmp_path / "r.md"
    atomic_write_text(path, "hello")
    assert path.read_text(encoding="utf-8") == "hello"


def test_iter_table_chunks_and_progress(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": [f"s{i}" for i in range(25)]}).to_csv(path, index=False)
    seen = []
    chunks = list(iter_table(path, chunksize=10, progress=seen.append))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert seen[-1] == pytest.approx(1.0)


def test_missing_column_names_the_columns_that_exist(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sentence,label\nA,b\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no 'text' column \(columns: sentence, label\)"):
        read_table(path, columns=["text"])


def test_empty_table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_table(path)


def test_documents_are_decoded_from_utf8_bom_and_utf16(tmp_path):
    text = "Café diplomacy. Second sentence."
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "u16.txt").write_bytes(text.encode("utf-16"))
    assert read_document(tmp_path / "bom.txt") == text
    assert read_document(tmp_path / "u16.txt") == text


def test_latin1_document_is_refused_with_a_hint(tmp_path):
    (tmp_path / "l1.txt").write_bytes("Caf\xe9 talks.".encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8 text .*--encoding"):
        read_document(tmp_path / "l1.txt")
    assert read_document(tmp_path / "l1.txt", encoding="cp1252") == "Café talks."


def test_gzipped_document(tmp_path):
    path = tmp_path / "d.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("One. Two.")
    assert read_document(path) == "One. Two."


def test_parse_themes_validates_ids_and_names_rows(taxonomy):
    assert parse_themes(["energy_diplomacy; bilateral_relations", "none"], taxonomy) == [
        ["energy_diplomacy", "bilateral_relations"], ["none"]]
    with pytest.raises(DataError, match=r"unknown theme 'energy' in rows 3, 4"):
        parse_themes(["none", "energy", "energy"], taxonomy)
    with pytest.raises(DataError, match=r"empty themes cell in row 2"):
        parse_themes([""], taxonomy)


def test_read_labeled_accepts_a_single_theme_column(tmp_path, taxonomy):
    path = tmp_path / "l.csv"
    path.write_text("text,theme\nGas deal.,energy_diplomacy\n", encoding="utf-8")
    frame = read_labeled(path, taxonomy)
    assert frame["themes"].tolist() == [["energy_diplomacy"]]


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


def test_a_look_at_the_arrow_bytes_clears_only_columns_without_nul():
    from policy_themes.io.tables import _may_hold_nul, _refuse_nul_cells

    ARROW_STRINGS = "string[pyarrow]"  # pandas 3's str dtype; pandas 2's str is object

    assert not _may_hold_nul(pd.Series(["Gas pipeline.", "Oil talks."], dtype=ARROW_STRINGS))
    assert _may_hold_nul(pd.Series(["Gas pipeline.", "Oil\x00 talks."], dtype=ARROW_STRINGS))
    assert _may_hold_nul(pd.Series(["Gas", None], dtype=object))  # not Arrow: searched
    # a slice shares its column's bytes: a NUL outside it is looked for, and not found
    frame = pd.DataFrame({"text": pd.Series(["Gas\x00.", "Oil talks."], dtype=ARROW_STRINGS)})
    _refuse_nul_cells(frame.iloc[1:], Path("t.csv"), 3)
    with pytest.raises(DataError, match="NUL byte in row 2"):
        _refuse_nul_cells(frame, Path("t.csv"), 2)


def test_parquet_keeps_dictionaries_for_repeated_values_only(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "out.parquet"
    frame = pd.DataFrame({"doc_id": ["a"] * 50 + ["b"] * 50,
                          "text": [f"Sentence number {i}." for i in range(100)],
                          "sentence": range(100)})
    with AtomicTableWriter(path) as writer:
        writer.write(frame)
        writer.write(frame)
    chunk = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {chunk.column(i).path_in_schema: chunk.column(i).encodings
                 for i in range(chunk.num_columns)}
    assert "RLE_DICTIONARY" in encodings["doc_id"]
    assert "RLE_DICTIONARY" not in encodings["text"]
    assert pd.read_parquet(path).equals(pd.concat([frame, frame], ignore_index=True))


def test_a_text_added_to_a_table_writer_is_written_with_the_table_or_not_at_all(tmp_path):
    table, report = tmp_path / "out.csv", tmp_path / "report.md"
    with pytest.raises(RuntimeError), AtomicTableWriter(table) as writer:
        writer.write(pd.DataFrame({"text": ["a"]}))
        writer.add_text(report, "# report\n")
        raise RuntimeError("the run failed after the report")
    assert sorted(tmp_path.iterdir()) == []
    with AtomicTableWriter(table) as writer:
        writer.write(pd.DataFrame({"text": ["a"]}))
        writer.add_text(report, "# report\n")
        assert not report.exists()  # not before the table
    assert report.read_text(encoding="utf-8") == "# report\n"
    assert pd.read_csv(table)["text"].tolist() == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "report.md"]
