"""--engine dask: predictions over globs into Parquet parts, cross-validation on a cluster.

Runs on a LocalCluster of two workers with a small sample; skipped when Dask is not installed.
"""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.errors import ConfigError, DataError
from policy_themes.model.theme_model import load_model
from policy_themes.workflows.prediction import predict_files

pytest.importorskip("distributed")

from policy_themes.workflows.dask_engine import (  # noqa: E402
    dask_backend,
    dask_client,
    predict_dask,
    require_dask,
)


@pytest.fixture(scope="module")
def client():
    with dask_client() as client:
        yield client


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, train_small_path):
    """Two inputs of documents, a CSV and a Parquet file."""
    frame = pd.read_csv(train_small_path)
    docs = frame.groupby("doc_id", sort=False)["text"].apply(" ".join).reset_index()
    folder = tmp_path_factory.mktemp("dask-inputs")
    docs.iloc[:7].to_csv(folder / "a.csv", index=False)
    docs.iloc[7:].to_parquet(folder / "b.parquet", index=False)
    return folder


def test_predict_writes_one_part_per_file_like_predict_files(client, inputs, trained_model_dir,
                                                             tmp_path):
    model = load_model(trained_model_dir)
    run = predict_dask(model, [inputs / "*.csv", inputs / "*.parquet"], tmp_path / "out",
                       client=client, documents=True, chunksize=200)
    assert [p.name for p in run.parts] == ["part-00000.parquet", "part-00001.parquet"]
    for source, part in zip((inputs / "a.csv", inputs / "b.parquet"), run.parts):
        local = tmp_path / f"{source.stem}.parquet"
        predict_files(model, [source], out=local, documents=True, chunksize=200)
        pd.testing.assert_frame_equal(pd.read_parquet(part), pd.read_parquet(local))
    assert run.sentences == len(pd.read_parquet(tmp_path / "out")) == 88


def test_cross_validation_runs_on_the_cluster(client, train_small_path, train_config_path):
    from distributed import get_task_stream

    from policy_themes.workflows.training import train

    with dask_backend(client.scheduler.address) as backend_client, \
            get_task_stream(backend_client) as stream:
        result = train([train_small_path], config=train_config_path, n_jobs=2)
    assert result.cv_metrics["accuracy"] > 0.5
    assert len(stream.data) >= 3  # one task per fold at least


def test_cli_predict_on_a_scheduler(client, inputs, trained_model_dir, tmp_path):
    out = tmp_path / "predictions"
    result = CliRunner().invoke(app, ["predict", "--engine", "dask", "--scheduler",
                                      client.scheduler.address, "-i", str(inputs / "*"),
                                      "--documents", "-m", str(trained_model_dir), "--out",
                                      str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "88 predictions written to" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]


def test_bad_inputs_and_outputs(client, inputs, trained_model_dir, tmp_path):
    model = load_model(trained_model_dir)
    with pytest.raises(DataError, match="no file matches"):
        predict_dask(model, [tmp_path / "*.csv"], tmp_path / "out", client=client)
    with pytest.raises(DataError, match="writes a folder of Parquet parts"):
        predict_dask(model, [inputs / "a.csv"], tmp_path / "out.csv", client=client)
    assert not (tmp_path / "out").exists()


def test_without_dask_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"pip install 'policy-themes\[dask\]'"):
        require_dask()


def test_scheduler_needs_the_dask_engine(trained_model_dir):
    result = CliRunner().invoke(app, ["predict", "--scheduler", "tcp://127.0.0.1:1", "-m",
                                      str(trained_model_dir), "A sentence."])
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: --scheduler needs --engine dask"
