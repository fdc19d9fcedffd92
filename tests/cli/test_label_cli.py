import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def test_help_lists_commands():
    result = invoke("--help", catch_exceptions=False)
    assert result.exit_code == 0
    assert "label" in result.output


@pytest.mark.parametrize("command", ["label"])
def test_commands_have_help_with_an_example(command):
    result = invoke(command, "--help", catch_exceptions=False)
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_label_seed_document_writes_sentences_and_prints_analysis(tmp_path, seed_path):
    out = tmp_path / "labeled.csv"
    result = invoke("label", seed_path, "--out", out, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Rules per theme" in result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["doc_id", "sentence", "start", "end", "text", "themes",
                                   "primary", "rules"]
    assert len(frame) == 12
    assert frame["themes"].iloc[-1] == "none"
    goals = frame[frame["text"].str.contains("served to the goals")].iloc[0]
    assert len(goals["themes"].split(";")) >= 8


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".tsv"])
def test_label_output_formats(tmp_path, seed_path, suffix):
    out = tmp_path / f"labeled{suffix}"
    result = invoke("label", seed_path, "--out", out, "--no-rules", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert len(rows) == 12 and rows[0]["doc_id"] == "foreign-policy-2017"
    elif suffix == ".parquet":
        assert len(pd.read_parquet(out)) == 12
    else:
        assert len(pd.read_csv(out, sep="\t")) == 12


def test_label_table_with_gold_keeps_gold_and_scores_rules(tmp_path, data_dir):
    out = tmp_path / "out.csv"
    report = tmp_path / "report.json"
    mini = data_dir / "mini_taxonomy.yaml"
    result = invoke("label", data_dir / "labeled_mini.csv", "--taxonomy", mini, "--out", out,
                    "--report", report, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "precision" in result.output
    frame = pd.read_csv(out)
    assert {"themes", "rule_themes", "rule_primary", "rules"} <= set(frame.columns)
    assert frame["themes"].iloc[2] == "trade;energy"
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["overall"]["recall"] == pytest.approx(6 / 7)


def test_no_rules_leaves_out_the_per_rule_table(seed_path):
    with_rules = invoke("label", seed_path, catch_exceptions=False)
    without = invoke("label", seed_path, "--no-rules", catch_exceptions=False)
    assert "fp_doctrine" in with_rules.output
    assert "Rules per theme" in without.output
    assert "fp_doctrine" not in without.output


def test_label_markdown_report(tmp_path, seed_path):
    report = tmp_path / "rules.md"
    result = invoke("label", seed_path, "--report", report, catch_exceptions=False)
    assert result.exit_code == 0
    assert report.read_text(encoding="utf-8").startswith("# Rule analysis")


def test_label_table_rows_as_documents(tmp_path):
    table = tmp_path / "speeches.csv"
    pd.DataFrame({"iso3": ["AZE", "NOR"], "text": ["Oil talks. Trade grew.", "Peace. Aid."]}
                 ).to_csv(table, index=False)
    out = tmp_path / "out.csv"
    result = invoke("label", table, "--documents", "--out", out, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert frame["text"].tolist() == ["Oil talks.", "Trade grew.", "Peace.", "Aid."]
    assert frame["iso3"].tolist() == ["AZE", "AZE", "NOR", "NOR"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_bad_gold_theme_in_a_documents_table_names_its_row(tmp_path, monkeypatch, jobs):
    monkeypatch.chdir(tmp_path)
    table = "s.csv"
    pd.DataFrame({"text": ["Oil talks. Trade grew."] * 3 + ["Peace. Aid."],
                  "themes": ["energy_diplomacy"] * 3 + ["no_such_theme"]}
                 ).to_csv(table, index=False)
    result = invoke("label", table, "--documents", "--chunk-size", "100", "--jobs", jobs)
    assert result.exit_code == 1
    assert "s.csv: unknown theme 'no_such_theme' in row 5;" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.txt"], "Error: missing.txt: no such file or folder"),
        (["{seed}", "--taxonomy", "nope.yaml"], "Error: nope.yaml: taxonomy file not found"),
        (["{seed}", "--out", "out.xlsx"], "Error: out.xlsx: unknown file type"),
        (["{seed}", "--out", "{seed}"], "the output path is also an input"),
        (["{seed}", "--report", "r.txt"], "the report must be .md or .json"),
        (["{seed}", "--out", "nofolder/out.csv"], "does not exist"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(tmp_path, seed_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{seed}", str(seed_path)) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke("label", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unknown_gold_theme_names_the_row(tmp_path):
    table = tmp_path / "gold.csv"
    table.write_text("text,themes\nOil.,energy_diplomacy\nGas.,gas_stuff\n", encoding="utf-8")
    result = invoke("label", table)
    assert result.exit_code == 1
    assert "unknown theme 'gas_stuff' in row 3" in result.output


def _installed_command() -> list[str]:
    script = Path(sys.executable).parent / "policy-themes"
    return [str(script)] if script.exists() else [sys.executable, "-m", "policy_themes"]


def test_installed_command_runs_in_a_subprocess(tmp_path, seed_path):
    env = {**os.environ, "NO_COLOR": "1"}
    out = tmp_path / "seed.csv"
    proc = subprocess.run([*_installed_command(), "label", str(seed_path), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Rules per theme" in proc.stdout
    assert out.exists()
    bad = subprocess.run([*_installed_command(), "label", str(tmp_path / "missing.txt")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("Error:")
    assert "Traceback" not in bad.stderr
