"""Theme labels of labeled tables (policy_themes.io.labels)."""


import pytest

from policy_themes.errors import DataError
from policy_themes.io.labels import parse_themes, read_labeled


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
