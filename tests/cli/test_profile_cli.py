"""The profile command: files written, the summary printed, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app

runner = CliRunner()

ROWS = Path(__file__).parents[1] / "data" / "profile_predictions.csv"  # worked out by hand


@pytest.fixture
def predictions(tmp_path):
    path = tmp_path / "predicted.csv.gz"
    pd.read_csv(ROWS).to_csv(path, index=False)
    return path


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def assert_one_error_line(result, expected):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected], result.stderr


def test_profile_has_help_with_an_example():
    result = invoke("profile", "--help", catch_exceptions=False)
    assert result.exit_code == 0
    example = result.output.split("Example:")[1].strip().splitlines()[0]
    assert example.startswith("policy-themes profile predicted.parquet --by iso3 --by year")
    for option in ("--by", "--bin", "--top", "--themes", "--out", "--format", "--bootstrap"):
        assert option in result.output


def test_profile_writes_tables_pictures_and_markdown(predictions, tmp_path):
    out = tmp_path / "profile"
    result = invoke("profile", predictions, "--by", "iso3", "--by", "year", "--bin", "decade",
                    "--themes", "energy,trade", "--out", out, "--bootstrap", "0",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "12 sentences in 5 documents, 3 groups by iso3 × decade."
    assert "energy rose from 33.3 % of sentences in the 1990s to 50.0 % in the 2000s." in lines
    assert lines[-1] == f"Profile written to {out / 'profile.md'}"
    assert {p.name for p in out.iterdir()} == {
        "shares.csv", "groups.csv", "standouts.csv", "over_time.csv", "across_time.csv",
        "overall.csv", "heatmap.png", "over_time.png", "standouts.png", "profile.md"}
    shares = pd.read_csv(out / "shares.csv")
    a_energy = shares[(shares["iso3"] == "A") & (shares["decade"] == "1990s")
                      & (shares["theme"] == "energy")].iloc[0]
    assert (a_energy["sentences"], a_energy["primary_n"]) == (6, 2)
    assert a_energy["primary_share"] == pytest.approx(1 / 3)


def test_profile_writes_parquet_tables(predictions, tmp_path):
    out = tmp_path / "profile"
    result = invoke("profile", predictions, "--by", "iso3", "--top", "1", "--format",
                    "parquet", "--out", out, "--bootstrap", "20", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    groups = pd.read_parquet(out / "groups.parquet")
    assert groups.to_dict("records") == [{"iso3": "A", "sentences": 8, "documents": 3}]
    assert not list(out.glob("*.csv"))


def test_profile_without_out_prints_the_summary_only(predictions, tmp_path):
    result = invoke("profile", predictions, "--by", "iso3", "--bootstrap", "0",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == ("Add --out FOLDER for the tables, the pictures "
                                              "and profile.md.")
    assert "A stands out for energy: 50.0 % of its 8 sentences, 2.0× the share in the rest " \
        "of the input." in result.stdout


def test_a_missing_column_is_one_error_line(predictions):
    result = invoke("profile", predictions, "--by", "region")
    assert_one_error_line(result, f"Error: {predictions}: no 'region' column (columns: doc_id, "
                                  "iso3, year, primary, themes); predict keeps the input's "
                                  "columns: give it a table that has 'region' (predict -i "
                                  "corpus.csv --documents --out ...)")


def test_an_unknown_theme_is_one_error_line(predictions):
    result = invoke("profile", predictions, "--by", "year", "--bin", "decade", "--themes",
                    "energy,migration")
    assert_one_error_line(result, "Error: unknown theme 'migration' (themes in the "
                                  "predictions: energy, none, trade)")


def test_an_empty_file_is_one_error_line(tmp_path):
    empty = tmp_path / "empty.parquet"
    pd.DataFrame(columns=["doc_id", "iso3", "primary", "themes"]).to_parquet(empty)
    result = invoke("profile", empty, "--by", "iso3")
    assert_one_error_line(result, f"Error: {empty}: the table has no rows")


def test_a_bin_without_a_year_column_is_one_error_line(predictions):
    result = invoke("profile", predictions, "--by", "iso3", "--bin", "decade")
    assert_one_error_line(result, "Error: --bin decade needs a year column among --by (iso3); "
                                  "name it: --bin COLUMN=decade")


def test_by_is_required(predictions):
    result = invoke("profile", predictions)
    assert result.exit_code == 2
    assert "--by" in result.stderr
