"""The suggest and audit commands, run in-process with typer's CliRunner."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def assert_one_error_line(result, expected: str) -> None:
    """Exit code 1, no traceback, one line on stderr: the expected ``Error: ...`` line
    (a prefix when it ends with "…")."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if expected.endswith("…"):
        assert lines[0].startswith(expected[:-1]), lines[0]
    else:
        assert lines[0] == expected


@pytest.fixture
def pool_path(train_small_path, tmp_path):
    path = tmp_path / "pool.csv"
    pd.read_csv(train_small_path).drop(columns=["themes"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["suggest", "audit"])
def test_commands_have_help_with_an_example(command):
    result = invoke(command, "--help", catch_exceptions=False)
    assert result.exit_code == 0
    example = result.output.split("Example:")[1].strip().splitlines()[0]
    assert example.startswith(f"policy-themes {command}")  # a line of its own, never re-wrapped


def test_audit_help_says_what_it_costs():
    result = invoke("audit", "--help", catch_exceptions=False)
    assert "Cost: one model fit per fold" in " ".join(result.output.split())


def test_suggest_writes_the_suggestions_and_label_studio_files(trained_model_dir, pool_path,
                                                               tmp_path):
    out = tmp_path / "next.csv"
    tasks = tmp_path / "tasks.json"
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "-n", "7",
                    "--out", out, "--label-studio", tasks, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "7 of 88 sentences to label next" in result.stdout
    assert f"Wrote {out}" in result.stdout
    assert f"Wrote {tmp_path / 'tasks.label-config.xml'}" in result.stdout
    assert len(pd.read_csv(out)) == 7
    assert len(json.loads(tasks.read_text(encoding="utf-8"))) == 7


def test_suggest_refuses_a_label_studio_file_that_is_not_json(trained_model_dir, pool_path,
                                                              tmp_path):
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "--out",
                    tmp_path / "next.csv", "--label-studio", tmp_path / "tasks.csv")
    assert_one_error_line(result, f"Error: {tmp_path / 'tasks.csv'}: a Label Studio import "
                                  "file is .json")
    assert not (tmp_path / "next.csv").exists()


def test_suggest_without_a_model_says_so(pool_path, tmp_path):
    result = invoke("suggest", pool_path, "--model-dir", tmp_path / "missing",
                    "--out", tmp_path / "next.csv")
    assert_one_error_line(result, "Error: …")
    assert "missing" in result.stderr


def test_audit_writes_the_table_and_the_report(trained_model_dir, train_small_path, tmp_path):
    out = tmp_path / "audit.csv"
    result = invoke("audit", train_small_path, "--model-dir", trained_model_dir, "--out", out,
                    "--top", "5", "--jobs", "1", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Label audit" in result.stdout
    assert "Most suspect labels" in result.stdout
    assert f"Wrote {out}" in result.stdout
    assert f"Wrote {tmp_path / 'audit.md'}" in result.stdout
    assert len(pd.read_csv(out)) == 88
    assert (tmp_path / "audit.md").read_text(encoding="utf-8").startswith("# Label audit")


def test_audit_of_a_missing_file(trained_model_dir, tmp_path):
    missing = tmp_path / "nothing.csv"
    result = invoke("audit", missing, "--model-dir", trained_model_dir, "--out",
                    tmp_path / "audit.csv")
    assert_one_error_line(result, f"Error: {missing}: no such file")


def test_audit_refuses_an_unknown_ranking(trained_model_dir, train_small_path, tmp_path):
    result = invoke("audit", train_small_path, "--model-dir", trained_model_dir,
                    "--ranking", "entropy", "--out", tmp_path / "audit.csv")
    assert_one_error_line(result, "Error: --ranking must be self_confidence or margin, got "
                                  "'entropy'")
