"""Atomic writers of tables and text (policy_themes.io.writers)."""


import pandas as pd
import pytest

from policy_themes.errors import DataError
from policy_themes.io.tables import read_table
from policy_themes.io.writers import AtomicTableWriter, atomic_write_text


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
