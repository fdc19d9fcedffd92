"""Theme profiles (policy_themes.workflows.profiles) on a tiny example worked out by hand.

Twelve sentences in five documents of two countries:

    d1 A 1991: energy {energy, trade} | trade {trade} | none {none} | energy {energy}
    d2 A 1995: trade {trade, energy} | trade {trade}
    d3 B 2003: energy {energy} | none {none}
    d4 B 2004: trade {trade} | trade {trade}
    d5 A 2001: energy {energy} | energy {energy}

Country A: 8 sentences in 3 documents, primary energy 4 (1/2), trade 3 (3/8), none 1 (1/8);
theme sets holding energy 5 (5/8), trade 4 (1/2). Per-document primary shares of energy:
d1 1/2, d2 0, d5 1 (mean 1/2); of trade: 1/4, 1, 0 (mean 5/12).
Country B: 4 sentences in 2 documents, energy 1/4, trade 1/2, none 1/4 (the sets the same);
per-document energy 1/2 and 0 (mean 1/4), trade 0 and 1 (mean 1/2).
Ratios against the rest: A energy (1/2) / (1/4) = 2, A trade (3/8) / (1/2) = 3/4,
B energy (1/4) / (1/2) = 1/2, B trade (1/2) / (3/8) = 4/3.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policy_themes.errors import DataError
from policy_themes.workflows.profiles import Profile, profile, reading

ROWS = pd.read_csv(Path(__file__).parents[1] / "data" / "profile_predictions.csv")


def frame() -> pd.DataFrame:
    table = ROWS.copy()
    table.insert(3, "text", [f"sentence {i}" for i in range(len(table))])
    table["probability"] = 0.5
    return table


@pytest.fixture
def predictions(tmp_path):
    path = tmp_path / "predicted.csv"
    frame().to_csv(path, index=False)
    return path


def cell(table: pd.DataFrame, theme: str, **group) -> pd.Series:
    rows = table[table["theme"] == theme]
    for column, value in group.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_shares_and_counts_by_country(predictions):
    result = profile(predictions, by=["iso3"], n_boot=0)
    assert isinstance(result, Profile)
    assert (result.sentences, result.documents) == (12, 5)
    assert result.themes == ["energy", "trade", "none"]  # energy and trade: 5 each, by name
    a_energy = cell(result.shares, "energy", iso3="A")
    assert (a_energy["sentences"], a_energy["documents"]) == (8, 3)
    assert (a_energy["primary_n"], a_energy["set_n"]) == (4, 5)
    assert a_energy["primary_share"] == pytest.approx(1 / 2)
    assert a_energy["set_share"] == pytest.approx(5 / 8)
    a_trade = cell(result.shares, "trade", iso3="A")
    assert (a_trade["primary_n"], a_trade["set_n"]) == (3, 4)
    assert a_trade["primary_share"] == pytest.approx(3 / 8)
    assert a_trade["set_share"] == pytest.approx(1 / 2)
    assert cell(result.shares, "none", iso3="A")["primary_share"] == pytest.approx(1 / 8)
    b = result.shares[result.shares["iso3"] == "B"].set_index("theme")
    assert b["primary_share"].to_dict() == pytest.approx(
        {"energy": 1 / 4, "trade": 1 / 2, "none": 1 / 4})
    assert b["set_share"].to_dict() == b["primary_share"].to_dict()
    assert result.groups.to_dict("records") == [
        {"iso3": "A", "sentences": 8, "documents": 3},
        {"iso3": "B", "sentences": 4, "documents": 2}]


def test_per_document_shares_are_means_of_each_documents_share(predictions):
    shares = profile(predictions, by=["iso3"], n_boot=0).shares
    assert cell(shares, "energy", iso3="A")["doc_primary_share"] == pytest.approx(1 / 2)
    assert cell(shares, "trade", iso3="A")["doc_primary_share"] == pytest.approx(5 / 12)
    # set: d1 holds energy in 2 of 4 sets, d2 in 1 of 2, d5 in 2 of 2
    assert cell(shares, "energy", iso3="A")["doc_set_share"] == pytest.approx(
        (2 / 4 + 1 / 2 + 1) / 3)
    assert cell(shares, "energy", iso3="B")["doc_primary_share"] == pytest.approx(1 / 4)
    assert cell(shares, "trade", iso3="B")["doc_primary_share"] == pytest.approx(1 / 2)


def test_ratio_compares_with_every_other_sentence(predictions):
    shares = profile(predictions, by=["iso3"], n_boot=0).shares
    expected = {("A", "energy"): (2, 1 / 4), ("A", "trade"): (3 / 4, 1 / 2),
                ("B", "energy"): (1 / 2, 1 / 2), ("B", "trade"): (4 / 3, 3 / 8)}
    for (iso3, theme), (ratio, rest) in expected.items():
        row = cell(shares, theme, iso3=iso3)
        assert row["ratio"] == pytest.approx(ratio)
        assert row["rest_share"] == pytest.approx(rest)


def test_overall_counts_every_sentence(predictions):
    overall = profile(predictions, by=["iso3"], n_boot=0).overall.set_index("theme")
    assert overall["primary_n"].to_dict() == {"energy": 5, "trade": 5, "none": 2}
    assert overall["set_n"].to_dict() == {"energy": 6, "trade": 6, "none": 2}
    assert overall["primary_share"]["none"] == pytest.approx(2 / 12)


def test_standouts_rank_groups_above_the_rest(predictions):
    standouts = profile(predictions, by=["iso3"], n_boot=0).standouts
    assert standouts[["theme", "rank", "iso3"]].to_dict("records") == [
        {"theme": "energy", "rank": 1, "iso3": "A"},
        {"theme": "trade", "rank": 1, "iso3": "B"}]
    assert standouts["ratio"].tolist() == pytest.approx([2, 4 / 3])


def test_bootstrap_intervals_hold_the_estimate_and_repeat_with_a_seed(predictions):
    first = profile(predictions, by=["iso3"], n_boot=300, seed=7).shares
    again = profile(predictions, by=["iso3"], n_boot=300, seed=7).shares
    pd.testing.assert_frame_equal(first, again)
    for stem in ("primary", "set", "doc_primary", "doc_set"):
        share = first[f"{stem}_share"]
        assert (first[f"{stem}_low"] <= share + 1e-6).all(), stem
        assert (share <= first[f"{stem}_high"] + 1e-6).all(), stem
    assert (first["ratio_low"] <= first["ratio"] + 1e-6).all()
    assert (first["ratio"] <= first["ratio_high"] + 1e-6).all()
    # A's documents have energy shares 1/2, 0 and 1: the resamples' shares spread out
    a_energy = cell(first, "energy", iso3="A")
    assert a_energy["primary_low"] < 0.5 < a_energy["primary_high"]
    other = profile(predictions, by=["iso3"], n_boot=300, seed=8).shares
    assert not first.equals(other)


def test_bootstrap_resamples_documents_within_their_group(predictions):
    shares = profile(predictions, by=["iso3"], n_boot=400, seed=0).shares
    # B's two documents have energy shares 1/2 and 0 with two sentences each: a resample
    # holds d3 twice, d4 twice or one of each, so its share is 1/2, 0 or 1/4
    b_energy = cell(shares, "energy", iso3="B")
    assert b_energy["primary_low"] == pytest.approx(0)
    assert b_energy["primary_high"] == pytest.approx(0.5)


def test_a_group_of_one_document_has_no_interval(predictions):
    shares = profile(predictions, by=["iso3", "year"], bins={"year": "decade"},
                     n_boot=200).shares
    lone = cell(shares, "energy", iso3="A", decade="2000s")
    assert lone["documents"] == 1 and lone["primary_share"] == 1
    assert np.isnan(lone["primary_low"]) and np.isnan(lone["ratio_high"])


def test_decades_are_derived_from_years(predictions):
    result = profile(predictions, by=["iso3", "year"], bins={"year": "decade"}, n_boot=0)
    assert result.by == ["iso3", "decade"] and result.time == "decade"
    assert result.groups.to_dict("records") == [
        {"iso3": "A", "decade": "1990s", "sentences": 6, "documents": 2},
        {"iso3": "A", "decade": "2000s", "sentences": 2, "documents": 1},
        {"iso3": "B", "decade": "2000s", "sentences": 4, "documents": 2}]
    assert cell(result.shares, "trade", iso3="A", decade="1990s")["primary_share"] == \
        pytest.approx(3 / 6)
    over_time = result.over_time.set_index(["decade", "theme"])["primary_share"]
    assert over_time[("1990s", "energy")] == pytest.approx(2 / 6)
    assert over_time[("2000s", "energy")] == pytest.approx(3 / 6)
    # across time: the countries, as grouping by iso3 alone gives
    by_country = profile(predictions, by=["iso3"], n_boot=0).shares
    pd.testing.assert_frame_equal(result.across_time, by_country)


def test_bin_decade_finds_the_year_column_and_reads_dates(tmp_path):
    table = frame()
    table["date"] = [f"{y}-09-2{i % 10}" for i, y in enumerate(table["year"])]
    path = tmp_path / "dated.csv"
    table.drop(columns=["year"]).to_csv(path, index=False)
    result = profile(path, by=["date"], bins="decade", n_boot=0)
    assert result.groups["decade"].tolist() == ["1990s", "2000s"]
    assert result.over_time is result.shares


def test_top_keeps_the_largest_groups_in_every_decade(predictions):
    result = profile(predictions, by=["iso3", "year"], bins="decade", top=1, n_boot=0)
    assert result.groups[["iso3", "decade"]].values.tolist() == [["A", "1990s"],
                                                                 ["A", "2000s"]]
    assert result.total_groups == 2 and result.top == 1
    # the ratio still compares with every other sentence, B's included
    assert cell(result.shares, "energy", iso3="A", decade="1990s")["rest_share"] == \
        pytest.approx(3 / 6)
    assert set(result.over_time["decade"]) == {"1990s", "2000s"}  # every group over time
    assert result.across_time["iso3"].unique().tolist() == ["A"]


def test_top_without_time_keeps_groups(predictions):
    result = profile(predictions, by=["iso3"], top=1, n_boot=0)
    assert result.groups["iso3"].tolist() == ["A"]


def test_every_format_gives_the_same_profile(predictions, tmp_path):
    expected = profile(predictions, by=["iso3"], n_boot=50).shares
    table = frame()
    parquet = tmp_path / "predicted.parquet"
    table.to_parquet(parquet, index=False)
    jsonl = tmp_path / "predicted.jsonl.gz"
    table.assign(themes=table["themes"].str.split(";")).to_json(
        jsonl, orient="records", lines=True, compression="gzip")
    for path in (parquet, jsonl):
        pd.testing.assert_frame_equal(profile(path, by=["iso3"], n_boot=50).shares, expected,
                                      check_dtype=False)


def test_chunks_split_documents_without_changing_the_result(predictions, monkeypatch):
    expected = profile(predictions, by=["iso3", "year"], bins="decade", n_boot=100).shares
    monkeypatch.setattr(reading, "_BATCH_ROWS", 5)  # d1, d2 and d4 cross chunks
    pd.testing.assert_frame_equal(
        profile(predictions, by=["iso3", "year"], bins="decade", n_boot=100).shares, expected)


def test_a_folder_of_parquet_parts_is_one_input(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    pq.write_table(table.slice(0, 5), folder / "part-0.parquet")
    pq.write_table(table.slice(5), folder / "part-1.parquet")
    result = profile(folder, by=["iso3"], n_boot=0)
    assert result.sentences == 12 and len(result.sources) == 2


def test_model_columns_are_read_before_gold_ones(tmp_path):
    table = frame().rename(columns={"primary": "model_primary", "themes": "model_themes"})
    table["primary"] = "trade"
    table["themes"] = "trade"
    path = tmp_path / "with_gold.csv"
    table.to_csv(path, index=False)
    shares = profile(path, by=["iso3"], n_boot=0).shares
    assert cell(shares, "energy", iso3="A")["primary_share"] == pytest.approx(1 / 2)


def test_missing_group_values_are_a_group_of_their_own(tmp_path):
    table = frame()
    table.loc[table["doc_id"] == "d5", "iso3"] = None
    path = tmp_path / "missing.csv"
    table.to_csv(path, index=False)
    groups = profile(path, by=["iso3"], n_boot=0).groups
    assert groups["iso3"].tolist() == ["A", "B", "(missing)"]
    assert groups["sentences"].tolist() == [6, 4, 2]


def test_line_themes_default_to_the_most_varying(predictions):
    result = profile(predictions, by=["year"], bins="decade", n_boot=0)
    # energy 2/6 -> 3/6, trade 3/6 -> 2/6: both move by 1/6
    assert result.line_themes == ["energy", "trade"]
    chosen = profile(predictions, by=["year"], bins="decade", themes=["trade"], n_boot=0)
    assert chosen.line_themes == ["trade"]


def test_wide_gives_groups_by_themes(predictions):
    wide = profile(predictions, by=["iso3"], n_boot=0).wide("primary_share")
    assert list(wide.columns) == ["energy", "trade", "none"]
    assert wide.loc["A"].tolist() == pytest.approx([1 / 2, 3 / 8, 1 / 8])


def test_summary_names_the_standouts_and_the_trend(predictions):
    lines = profile(predictions, by=["iso3", "year"], bins="decade", n_boot=0).summary()
    assert lines[0] == "12 sentences in 5 documents, 3 groups by iso3 × decade."
    assert any(line.startswith("**A · 1990s** stands out for `trade`") for line in lines)
    assert "`energy` rose from 33.3 % of sentences in the 1990s to 50.0 % in the 2000s." \
        in lines


def test_write_makes_tables_pictures_and_markdown(predictions, tmp_path):
    out = tmp_path / "profile"
    # without intervals the standouts are ranked by their ratio: there are some to draw
    result = profile(predictions, by=["iso3", "year"], bins="decade", out_dir=out,
                     format="parquet", n_boot=0)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["across_time.parquet", "groups.parquet", "heatmap.png", "over_time.parquet",
                     "over_time.png", "overall.parquet", "profile.md", "shares.parquet",
                     "standouts.parquet", "standouts.png"]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = pd.read_parquet(out / "shares.parquet")
    assert written["primary_share"].tolist() == pytest.approx(
        result.shares["primary_share"].round(6).tolist())
    markdown = (out / "profile.md").read_text(encoding="utf-8")
    for figure in ("heatmap.png", "over_time.png", "standouts.png"):
        assert f"]({figure})" in markdown
    assert result.summary()[0] in markdown
    assert result.files["markdown"] == out / "profile.md"


def test_write_leaves_out_the_pictures_there_is_nothing_for(predictions, tmp_path):
    out = tmp_path / "profile"
    # one country and no time: no lines; with intervals, no group of A stands out
    profile(predictions, by=["iso3"], out_dir=out, n_boot=50)
    assert sorted(p.name for p in out.glob("*.png")) == ["heatmap.png"]
    markdown = (out / "profile.md").read_text(encoding="utf-8")
    assert "over_time.png" not in markdown and "standouts.png" not in markdown
    assert "No group stands out for any theme against the rest of the input." in markdown


@pytest.mark.parametrize("options, message", [
    ({"by": ["region"]}, r"predicted\.csv: no 'region' column \(columns: doc_id, iso3, "),
    ({"by": ["iso3"], "doc_column": "speech"}, r"no 'speech' column .*--doc-column"),
    ({"by": ["iso3"], "themes": ["energy"]}, r"themes are drawn over time: add a time column"),
    ({"by": ["year"], "bins": "decade", "themes": ["migration"]},
     r"unknown theme 'migration' \(themes in the predictions: energy, none, trade\)"),
    ({"by": ["iso3"], "bins": "decade"}, r"--bin decade needs a year column among --by"),
    ({"by": ["year"], "bins": {"year": "week"}}, r"unknown bin 'week' for 'year'"),
    ({"by": ["iso3"], "bins": {"year": "decade"}}, r"cannot bin 'year': it is not one of"),
    ({"by": []}, r"give at least one column to group by"),
    ({"by": ["iso3", "iso3"]}, r"--by names 'iso3' twice"),
    ({"by": ["iso3"], "top": 0}, r"top must be a whole number of groups ≥ 1, got 0"),
    ({"by": ["iso3"], "format": "xlsx"}, r"format must be csv or parquet, got 'xlsx'"),
    ({"by": ["primary"]}, r"cannot group by 'primary': it holds the predicted themes"),
])
def test_bad_options_are_data_errors(predictions, options, message):
    with pytest.raises(DataError, match=message):
        profile(predictions, **options)


def test_years_that_are_not_years_cannot_be_binned(tmp_path):
    table = frame().astype({"year": str})
    table.loc[0, "year"] = "soon"
    path = tmp_path / "odd.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"cannot bin 'year' by decade: 'soon' is not a year"):
        profile(path, by=["year"], bins="decade")


def test_empty_inputs_are_refused(tmp_path):
    header_only = tmp_path / "empty.csv"
    frame().head(0).to_csv(header_only, index=False)
    with pytest.raises(DataError, match=r"empty\.csv: the table has a header but no rows"):
        profile(header_only, by=["iso3"])
    no_rows = tmp_path / "empty.parquet"
    frame().head(0).to_parquet(no_rows, index=False)
    with pytest.raises(DataError, match=r"empty\.parquet: the table has no rows"):
        profile(no_rows, by=["iso3"])
    blank = tmp_path / "blank.csv"
    blank.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"blank\.csv: the table is empty"):
        profile(blank, by=["iso3"])


def test_missing_files_and_folders_are_refused(predictions, tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.csv: no such file"):
        profile(tmp_path / "nowhere.csv", by=["iso3"])
    with pytest.raises(DataError, match=r"a folder without Parquet parts"):
        profile(tmp_path, by=["iso3"])  # holds predicted.csv only
    with pytest.raises(DataError, match=r"cannot create the output folder, .* does not exist"):
        profile(predictions, by=["iso3"], out_dir=tmp_path / "no" / "such")


def test_rows_without_a_primary_theme_are_refused(tmp_path):
    path = tmp_path / "no_primary.jsonl"
    rows = ROWS.to_dict("records")
    rows[2]["primary"] = None
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no_primary\.jsonl: 1 rows have no primary theme"):
        profile(path, by=["iso3"])


def test_the_api_is_exported_lazily():
    import policy_themes

    assert policy_themes.profile is profile
    assert policy_themes.Profile is Profile
