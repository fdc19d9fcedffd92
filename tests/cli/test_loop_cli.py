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
    assert "Cost: less than training the model" in " ".join(result.output.split())


def test_suggest_writes_the_suggestions_and_label_studio_files(trained_model_dir, pool_path,
                                                               tmp_path):
    out = tmp_path / "next.csv"
    tasks = tmp_path / "tasks.json"
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "-n", "7",
                    "--out", out, "--label-studio", tasks, "--keep-training-data",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "7 of 88 sentences to label next" in result.stdout
    assert f"Wrote {out}" in result.stdout
    assert f"Wrote {tmp_path / 'tasks.label-config.xml'}" in result.stdout
    assert len(pd.read_csv(out)) == 7
    assert len(json.loads(tasks.read_text(encoding="utf-8"))) == 7


def test_suggest_ranking_option_is_the_workflows_ranking(trained_model_dir, pool_path,
                                                         tmp_path):
    from policy_themes.workflows.suggest import suggest

    out = tmp_path / "next.csv"
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "-n", "5",
                    "--out", out, "--keep-training-data", "--ranking", "clusters",
                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = suggest([pool_path], model=trained_model_dir, n=5, skip_training_data=False,
                       ranking="clusters").frame
    assert pd.read_csv(out)["text"].tolist() == expected["text"].tolist()
    assert invoke("suggest", pool_path, "--model-dir", trained_model_dir,
                  "--ranking", "best").exit_code != 0


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


def test_audit_repeats_sets_the_cross_validations_averaged(trained_model_dir, train_small_path,
                                                           tmp_path):
    out = tmp_path / "audit.csv"
    result = invoke("audit", train_small_path, "--model-dir", trained_model_dir, "--out", out,
                    "--repeats", "1", "--folds", "2", "--jobs", "1", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = " ".join((tmp_path / "audit.md").read_text(encoding="utf-8").split())
    assert "(a 2-fold cross-validation with" in report


def test_audit_refuses_zero_repeats(trained_model_dir, train_small_path, tmp_path):
    result = invoke("audit", train_small_path, "--model-dir", trained_model_dir, "--repeats",
                    "0", "--out", tmp_path / "audit.csv")
    assert result.exit_code == 2 and not (tmp_path / "audit.csv").exists()


def test_audit_of_a_missing_file(trained_model_dir, tmp_path):
    missing = tmp_path / "nothing.csv"
    result = invoke("audit", missing, "--model-dir", trained_model_dir, "--out",
                    tmp_path / "audit.csv")
    assert_one_error_line(result, f"Error: {missing}: no such file")


def test_audit_refuses_an_unknown_ranking(trained_model_dir, train_small_path, tmp_path):
    result = invoke("audit", train_small_path, "--model-dir", trained_model_dir,
                    "--ranking", "entropy", "--out", tmp_path / "audit.csv")
    assert result.exit_code == 2 and not (tmp_path / "audit.csv").exists()
    assert "Invalid value for '--ranking'" in result.output
    assert "'self_confidence', 'margin'" in result.output  # the choices, named


def test_suggest_writes_doccano_and_prodigy_tasks(trained_model_dir, pool_path, tmp_path):
    doccano, prodigy = tmp_path / "doccano.jsonl", tmp_path / "prodigy.jsonl"
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "-n", "4",
                    "--out", tmp_path / "next.csv", "--doccano", doccano, "--prodigy", prodigy,
                    "--keep-training-data", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Wrote {doccano}" in result.stdout and f"Wrote {prodigy}" in result.stdout
    lines = [json.loads(x) for x in doccano.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4 and set(lines[0]) == {"text", "label", "meta"}
    lines = [json.loads(x) for x in prodigy.read_text(encoding="utf-8").splitlines()]
    assert set(lines[0]) == {"text", "options", "accept", "meta"}


def test_suggest_refuses_a_doccano_file_that_is_not_jsonl(trained_model_dir, pool_path,
                                                          tmp_path):
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "--out",
                    tmp_path / "next.csv", "--doccano", tmp_path / "tasks.json")
    assert_one_error_line(result, f"Error: {tmp_path / 'tasks.json'}: a doccano file is .jsonl")
    assert list(tmp_path.iterdir()) == [pool_path]


def test_suggest_says_how_many_labeled_sentences_it_skipped(trained_model_dir, pool_path,
                                                            tmp_path):
    frame = pd.read_csv(pool_path)
    extra = pd.DataFrame({"doc_id": "new", "text": ["A new sentence on gas pipelines.",
                                                    "Another one on visas for students."]})
    pd.concat([frame, extra]).to_csv(pool_path, index=False)
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "-n", "5",
                    "--out", tmp_path / "next.csv", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Skipped 88 pool sentences labeled already" in result.stdout
    assert len(pd.read_csv(tmp_path / "next.csv")) == 2
    result = invoke("suggest", pool_path, "--model-dir", trained_model_dir, "-n", "5",
                    "--out", tmp_path / "next.csv", "--exclude", tmp_path / "next.csv")
    assert_one_error_line(result, "Error: …")
    assert "every sentence of the pool is labeled already" in result.stderr


@pytest.mark.parametrize("shape", ["doccano", "prodigy", "json-min"])
def test_train_reads_the_exports_of_annotation_tools(shape, train_small_path, train_config_path,
                                                     tmp_path):
    gold = pd.read_csv(train_small_path).head(12)
    rows = [(t, s.split(";")) for t, s in zip(gold["text"], gold["themes"])]
    if shape == "json-min":
        export = tmp_path / "export.json"
        export.write_text(json.dumps([{"id": i, "text": t, "primary": themes[0],
                                       "themes": {"choices": themes}, "annotator": 1}
                                      for i, (t, themes) in enumerate(rows)]), encoding="utf-8")
    else:
        export = tmp_path / "export.jsonl"
        field = {"doccano": "label", "prodigy": "accept"}[shape]
        export.write_text("".join(json.dumps({"text": t, field: themes, "answer": "accept"})
                                  + "\n" for t, themes in rows), encoding="utf-8")
    result = invoke("train", train_small_path, export, "--config", train_config_path,
                    "--model-dir", tmp_path / "model", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "model" / "model.json").read_text(encoding="utf-8"))
    assert meta["training_data"]["sentences"] == 88 + 12


def test_suggest_ranking_choices_are_the_workflows():
    from policy_themes.cli.loop import PoolRanking
    from policy_themes.workflows.pool_ranking import RANKINGS

    assert [choice.value for choice in PoolRanking] == list(RANKINGS)


def test_audit_ranking_choices_are_the_workflows():
    from policy_themes.cli.loop import Ranking
    from policy_themes.workflows.audit import RANKINGS

    assert {choice.value for choice in Ranking} == set(RANKINGS)
