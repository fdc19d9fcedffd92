"""The ``evaluate()`` function: a model, a labeled file, and the report beside two baselines."""

import json

import pandas as pd
import pytest

from policy_themes.errors import DataError, ModelError
from policy_themes.evaluation.report import EvalReport
from policy_themes.model.theme_model import load_model
from policy_themes.rules.taxonomy import load_taxonomy
from policy_themes.workflows.evaluate import evaluate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROWS = [
    ("Gas deliveries through the pipeline will resume in spring.", "energy_diplomacy"),
    ("The oil terminal will double its exports.", "energy_diplomacy;economic_trade"),
    ("Electricity from the new power plant will be sold abroad.", "energy_diplomacy"),
    ("The consulate issued new passports to our citizens.", "consular_diaspora"),
    ("Visa applications can now be filed online.", "consular_diaspora"),
    ("The diaspora community welcomed the minister.", "consular_diaspora"),
    ("The attack was carried out by a terrorist cell.", "counter_terrorism"),
    ("Drug trafficking across the border has fallen.", "counter_terrorism"),
    ("Thank you, ladies and gentlemen.", "none"),
    ("The briefing ended at noon.", "none"),
]


@pytest.fixture
def gold_path(tmp_path):
    path = tmp_path / "dev.csv"
    pd.DataFrame(ROWS, columns=["text", "themes"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model(trained_model_dir):
    return load_model(trained_model_dir)


def test_evaluate_returns_model_and_baselines(model, gold_path):
    report = evaluate(model, gold_path, n_boot=50)
    assert isinstance(report, EvalReport)
    assert list(report.baselines) == ["rules alone", "majority class"]
    assert report.metrics["n"] == len(ROWS)
    assert report.texts == [text for text, _ in ROWS]
    assert report.title == "Evaluation of small on dev.csv"
    assert report.meta["model"] == str(model.path)
    assert report.meta["data"] == str(gold_path)
    sentences = model.meta["training_data"]["sentences"]
    assert report.meta["trained on"].endswith(f"train_small.csv ({sentences:,} sentences)")
    # the majority class of train_small is "none": right on 2 of 10 sentences
    assert report.baselines["majority class"]["accuracy"] == pytest.approx(0.2)
    assert report.metrics["accuracy"] >= 0.8
    assert report.baselines["rules alone"]["n"] == len(ROWS)


def test_evaluate_accepts_a_model_directory(trained_model_dir, gold_path, model):
    by_path = evaluate(trained_model_dir, gold_path, n_boot=0)
    by_model = evaluate(model, gold_path, n_boot=0)
    assert by_path.metrics["accuracy"] == by_model.metrics["accuracy"]


def test_evaluate_is_reproducible(model, gold_path):
    first = evaluate(model, gold_path, n_boot=50, seed=3).metrics
    second = evaluate(model, gold_path, n_boot=50, seed=3).metrics
    assert first["accuracy_ci"] == second["accuracy_ci"]


def test_evaluate_writes_the_three_files(model, gold_path, tmp_path):
    out = tmp_path / "report"
    report = evaluate(model, gold_path, out_dir=out, n_boot=50)
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "report.json", "report.md"]
    assert (out / "confusion.png").read_bytes().startswith(PNG_SIGNATURE)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Evaluation of small on dev.csv\n")
    assert "rules alone" in markdown and "majority class" in markdown
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["metrics"]["accuracy"] == pytest.approx(report.metrics["accuracy"])
    assert set(data["baselines"]) == {"rules alone", "majority class"}


def test_evaluate_without_out_dir_writes_nothing(model, gold_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evaluate(model, gold_path, n_boot=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.csv"]


def test_a_model_of_another_taxonomy_is_refused(model, gold_path, data_dir):
    mini = load_taxonomy(data_dir / "mini_taxonomy.yaml")
    out = gold_path.parent / "report"
    with pytest.raises(ModelError, match=r"was built for another taxonomy \(only in the model: "
                                         r"bilateral_relations, .*; only in .*mini_taxonomy\.yaml: "
                                         r"cooperation, energy, trade\)"):
        evaluate(model, gold_path, taxonomy=mini, out_dir=out)
    assert not out.exists()


def test_unknown_gold_theme_is_a_data_error(model, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,themes\nGas.,energy_diplomacy\nOil.,petro_politics\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"unknown theme 'petro_politics' in row 3"):
        evaluate(model, path)


def test_missing_model(tmp_path, gold_path):
    with pytest.raises(ModelError, match="or run `policy-themes train`"):
        evaluate(tmp_path / "no-model", gold_path)
