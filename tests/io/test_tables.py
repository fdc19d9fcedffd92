"""Reading tables in chunks (policy_themes.io.tables)."""

from pathlib import Path

import pandas as pd
import pytest

from policy_themes.errors import DataError
from policy_themes.io.tables import iter_table, read_table


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
