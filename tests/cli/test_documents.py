"""One rule finds a table's documents, for every command: the same labeled table gives the same
predictions through ``predict --input`` and ``evaluate``, from the CLI and from Python, whatever
its columns are called."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.errors import DataError
from policy_themes.io.sentence_frames import find_document_column
from policy_themes.model.theme_model import load_model
from policy_themes.workflows.evaluate import evaluate
from policy_themes.workflows.prediction import predict_files

runner = CliRunner()
CONTEXT_CONFIG = Path(__file__).resolve().parents[1] / "data" / "train_context.yaml"
LAYOUTS = {
    "source": ["source"],
    "id": ["id"],
    "both": ["id", "source"],
    "neither": [],
}


@pytest.fixture(scope="module")
def context_model_dir(tmp_path_factory, train_small_path):
    from policy_themes.workflows.training import train

    model_dir = tmp_path_factory.mktemp("models") / "context"
    train([train_small_path], config=CONTEXT_CONFIG, model_dir=model_dir)
    return model_dir


@pytest.fixture(scope="module")
def labeled(train_small_path) -> pd.DataFrame:
    """train_small's sentences as a real-dev-like table: id, text, primary, themes, source."""
    frame = pd.read_csv(train_small_path)
    return pd.DataFrame({"id": [f"s{i}" for i in range(len(frame))], "text": frame["text"],
                         "primary": frame["themes"].str.split(";").str[0],
                         "themes": frame["themes"], "source": frame["doc_id"],
                         "country": "AZE"})


def _write(labeled: pd.DataFrame, layout: str, folder) -> str:
    keep = [c for c in labeled.columns if c not in ("id", "source") or c in LAYOUTS[layout]]
    path = folder / f"{layout}.csv"
    labeled[keep].to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_predict_and_evaluate_agree_on_every_layout(context_model_dir, labeled, layout,
                                                    tmp_path):
    path = _write(labeled, layout, tmp_path)
    model = load_model(context_model_dir)
    report = evaluate(model, path, n_boot=0)
    predict_files(model, [path], out=tmp_path / "out.csv", chunksize=7)
    predicted = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    # the table's gold primary and themes are kept; the model's are model_primary, model_themes
    assert predicted["model_primary"].tolist() == report.predictions["primary"].tolist()
    assert predicted["model_themes"].tolist() == report.predictions["themes"].tolist()


def test_documents_give_context_and_ids_do_not(context_model_dir, labeled, tmp_path):
    model = load_model(context_model_dir)
    with_documents = model.context_for(pd.read_csv(_write(labeled, "both", tmp_path)))
    with_ids = model.context_for(pd.read_csv(_write(labeled, "id", tmp_path)))
    assert any(with_documents) and not any(with_ids)


def test_a_chunk_never_cuts_a_document(context_model_dir, labeled, tmp_path):
    path = _write(labeled, "source", tmp_path)
    model = load_model(context_model_dir)
    whole = predict_files(model, [path], chunksize=10_000, preview_rows=10_000).preview
    small = predict_files(model, [path], chunksize=3, preview_rows=10_000).preview
    pd.testing.assert_frame_equal(whole, small)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_cli_predict_evaluate_and_api_agree(context_model_dir, labeled, layout, tmp_path):
    path = _write(labeled, layout, tmp_path)
    out = tmp_path / "cli.csv"
    result = runner.invoke(app, ["predict", "--input", path, "--model-dir",
                                 str(context_model_dir), "--out", str(out), "--jobs", "1"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    api = evaluate(load_model(context_model_dir), path, n_boot=0).predictions
    assert pd.read_csv(out)["model_primary"].tolist() == api["primary"].tolist()
    note = "no document column" in result.output
    assert note == (layout in ("id", "neither"))
    result = runner.invoke(app, ["evaluate", path, "--model-dir", str(context_model_dir),
                                 "--out", str(tmp_path / "report"), "--bootstrap", "0"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert ("no document column" in result.output) == note


def test_doc_column_names_the_documents(context_model_dir, labeled, tmp_path):
    renamed = labeled.rename(columns={"source": "speech"})
    path = tmp_path / "speech.csv"
    renamed.to_csv(path, index=False)
    model = load_model(context_model_dir)
    named = evaluate(model, path, doc_column="speech", n_boot=0).predictions
    found = evaluate(model, _write(labeled, "source", tmp_path), n_boot=0).predictions
    assert named["primary"].tolist() == found["primary"].tolist()
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", "--input", str(path), "--doc-column", "speech",
                                 "--model-dir", str(context_model_dir), "--out", str(out),
                                 "--jobs", "1"], catch_exceptions=False)
    assert result.exit_code == 0 and "no document column" not in result.output
    assert pd.read_csv(out)["doc_id"].tolist() == renamed["speech"].tolist()


def test_a_missing_doc_column_is_one_error_line(context_model_dir, labeled, tmp_path):
    path = _write(labeled, "source", tmp_path)
    result = runner.invoke(app, ["predict", "--input", path, "--doc-column", "speech",
                                 "--model-dir", str(context_model_dir)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert "no 'speech' column for --doc-column" in result.output


def test_find_document_column_rule():
    candidates = ("doc_id", "document_id", "document", "source", "url")
    assert find_document_column(["id", "text", "source"], candidates) == "source"
    assert find_document_column(["id", "text"], candidates) is None
    assert find_document_column(["id", "text"], candidates, documents=True) == "id"
    assert find_document_column(["speech", "source"], candidates, "speech") == "speech"
    with pytest.raises(DataError, match="no 'speech' column"):
        find_document_column(["text"], candidates, "speech")


def test_training_groups_and_context_follow_the_same_rule(labeled, tmp_path, data_dir):
    from policy_themes.workflows.training import train

    path = _write(labeled, "both", tmp_path)
    result = train([path], config=data_dir / "train_context.yaml")
    renamed = tmp_path / "renamed.csv"
    labeled.rename(columns={"source": "speech"}).to_csv(renamed, index=False)
    named = train([renamed], config=data_dir / "train_context.yaml", doc_column="speech")
    texts = labeled["text"].tolist()[:10]
    assert result.pipeline.predict(texts).tolist() == named.pipeline.predict(texts).tolist()
