"""The archive-scale options: --jobs of label and predict, train --streaming."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture(scope="module")
def speeches(tmp_path_factory, train_small_path):
    frame = pd.read_csv(train_small_path)
    docs = frame.groupby("doc_id", sort=False)["text"].apply(" ".join).reset_index()
    path = tmp_path_factory.mktemp("cli-speeches") / "speeches.csv.gz"
    docs.to_csv(path, index=False)
    return path


def test_label_jobs_two_equals_jobs_one(speeches, tmp_path):
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"labeled-{jobs}.csv"
        result = invoke("label", speeches, "--documents", "--chunk-size", 100, "--jobs", jobs,
                        "--out", out, "--no-rules", catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_predict_jobs_two_equals_jobs_one(speeches, trained_model_dir, tmp_path):
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"predicted-{jobs}.jsonl"
        result = invoke("predict", "-i", speeches, "--documents", "-m", trained_model_dir,
                        "--chunk-size", 100, "--jobs", jobs, "--out", out,
                        catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_train_streaming_then_info_and_predict(train_small_path, tmp_path):
    model_dir = tmp_path / "sgd"
    result = invoke("train", "--streaming", train_small_path, "-m", model_dir, "--epochs", 2,
                    "--holdout", 0.3, "--chunk-size", 20, "--jobs", 1, "--set",
                    "features__word__n_bits=12", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output
    assert (model_dir / "report.md").is_file()
    info = invoke("info", "-m", model_dir, catch_exceptions=False)
    assert "word, rules" in info.output
    predicted = invoke("predict", "-m", model_dir, "-f", "csv",
                       "The embassy is providing consular assistance to citizens.",
                       catch_exceptions=False)
    assert predicted.exit_code == 0
    assert "consular_diaspora" in predicted.output


def test_train_streaming_refuses_config(train_small_path, train_config_path, tmp_path):
    result = invoke("train", "--streaming", train_small_path, "-c", train_config_path, "-m",
                    tmp_path / "m")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --config does not apply to --streaming")
