"""What to label next (suggest.py) and the Label Studio files it writes and reads back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from policy_themes.errors import DataError
from policy_themes.io.labels import read_labeled_table
from policy_themes.io.labelstudio import label_studio_config, read_label_studio
from policy_themes.workflows.suggest import (
    cluster_picks,
    rank_pool,
    suggest,
    theme_weights,
    uncertainty,
)
from policy_themes.workflows.training import train


def test_uncertainty_is_one_minus_the_margin_of_the_two_best():
    proba = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.2, 0.5, 0.3]])
    assert uncertainty(proba) == pytest.approx([1.0, 0.15, 0.8])


def test_theme_weights_favour_themes_with_few_labels():
    proba = np.array([[0.9, 0.1], [0.1, 0.9]])
    assert theme_weights(proba, ["a", "b"], {"a": 99, "b": 3}) == pytest.approx([0.2, 1.0])
    assert theme_weights(proba, ["a", "b"], {"a": 99, "b": 3}, power=1.0) == \
        pytest.approx([0.04, 1.0])
    assert theme_weights(proba, ["a", "b"], None).tolist() == [1.0, 1.0]


def test_relative_theme_weights_set_labels_against_the_pools_share():
    # theme a is 90 % of the pool but has as many labels as b: a is short of labels
    proba = np.array([[0.9, 0.1]] * 9 + [[0.1, 0.9]])
    weights = theme_weights(proba, ["a", "b"], {"a": 10, "b": 10}, relative=True, power=1.0)
    assert weights[0] == 1.0 and weights[-1] < 0.5


def test_cluster_picks_take_the_best_of_each_group_of_near_copies():
    rng = np.random.default_rng(1)
    # three groups of ten near-copies each: one pick per group, its best-scoring row
    centres = np.eye(3) * 5
    features = sp.csr_matrix(np.repeat(centres, 10, axis=0) + rng.random((30, 3)) * 0.1)
    scores = rng.random(30)
    picks = cluster_picks(scores, features, 3)
    assert sorted(p // 10 for p in picks) == [0, 1, 2]
    assert all(scores[p] == scores[10 * (p // 10):10 * (p // 10) + 10].max() for p in picks)
    assert scores[picks].tolist() == sorted(scores[picks], reverse=True)


def test_cluster_picks_sketch_wide_features_and_fill_empty_clusters():
    features = sp.random(40, 5000, density=0.01, random_state=0, format="csr")
    scores = np.linspace(1, 0, 40)
    picks = cluster_picks(scores, features, 12)
    assert len(set(picks.tolist())) == 12
    same = sp.csr_matrix(np.ones((6, 3)))  # six identical rows: one cluster, then the best
    assert sorted(cluster_picks(np.arange(6.0), same, 3).tolist()) == [3, 4, 5]


def test_rank_pool_gives_n_distinct_rows_most_uncertain_first():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=200)
    features = sp.random(200, 50, density=0.2, random_state=0, format="csr")
    order = rank_pool(proba, features, ["a", "b", "c", "d"], 20)
    assert len(set(order.tolist())) == 20
    assert order[0] == np.argmax(uncertainty(proba))
    naive = rank_pool(proba, features, ["a", "b", "c", "d"], 20, diverse=False)
    assert naive.tolist() == np.argsort(-uncertainty(proba))[:20].tolist()
    assert rank_pool(proba, features, ["a", "b", "c", "d"], 500).shape == (200,)


@pytest.fixture
def pool_path(train_small_path, tmp_path):
    """train_small.csv without its labels: an unlabeled pool with documents."""
    path = tmp_path / "pool.csv"
    pd.read_csv(train_small_path).drop(columns=["themes"]).to_csv(path, index=False)
    return path


def test_suggest_writes_rows_to_fill_in(trained_model_dir, pool_path, tmp_path):
    out = tmp_path / "next.csv"
    result = suggest([pool_path], model=trained_model_dir, n=10, out=out)
    assert result.pool_size == 88
    assert result.outputs == [out]
    written = pd.read_csv(out, keep_default_na=False)
    assert len(written) == 10
    assert list(written.columns[:6]) == ["rank", "text", "themes", "guess", "guess_themes",
                                         "probability"]
    assert (written["themes"] == "").all()
    assert written["text"].is_unique
    assert set(written["guess"]) <= set(result.frame["guess"])
    assert "doc_id" in written.columns


def test_train_accepts_the_suggestions_once_filled(trained_model_dir, pool_path,
                                                   train_small_path, train_config_path,
                                                   tmp_path):
    out = tmp_path / "next.csv"
    suggest([pool_path], model=trained_model_dir, n=10, out=out)
    filled = pd.read_csv(out)
    gold = pd.read_csv(train_small_path).set_index("text")["themes"]
    filled["themes"] = filled["text"].map(gold)
    filled.to_csv(out, index=False)
    result = train([train_small_path, out], config=train_config_path)
    assert result.n_sentences == 88 + 10


def test_suggest_refuses_a_pool_with_labels(trained_model_dir, train_small_path):
    with pytest.raises(DataError, match="the pool has a 'themes' column"):
        suggest([train_small_path], model=trained_model_dir, n=5)


def test_suggest_needs_at_least_one(trained_model_dir, pool_path):
    with pytest.raises(DataError, match="n must be at least 1"):
        suggest([pool_path], model=trained_model_dir, n=0)


def test_suggest_with_a_context_model_writes_the_context_it_read(pool_path, data_dir,
                                                                 train_small_path, tmp_path):
    model_dir = tmp_path / "context-model"
    train([train_small_path], config=data_dir / "train_context.yaml", model_dir=model_dir)
    result = suggest([pool_path], model=model_dir, n=5)
    frame = pd.read_csv(pool_path)
    first = result.frame.iloc[0]
    position = frame.index[frame["text"] == first["text"]][0]
    document = frame[frame["doc_id"] == first["doc_id"]]
    before = document.loc[document.index < position, "text"].tail(1).tolist()
    assert first["context_before"] == "\n".join(before)


def _export_from(tasks: list[dict]) -> list[dict]:
    """What Label Studio exports once each task's pre-annotation is accepted as it is."""
    return [{"id": i + 1, "data": task["data"],
             "annotations": [{"id": 100 + i, "was_cancelled": False,
                              "result": task["predictions"][0]["result"]}],
             "predictions": task["predictions"]}
            for i, task in enumerate(tasks)]


def test_label_studio_tasks_carry_the_guess_as_a_prediction(trained_model_dir, pool_path,
                                                            tmp_path):
    tasks_path = tmp_path / "tasks.json"
    result = suggest([pool_path], model=trained_model_dir, n=6, label_studio=tasks_path)
    assert result.outputs == [tasks_path, tmp_path / "tasks.label-config.xml"]
    tasks = json.loads(tasks_path.read_text(encoding="utf-8"))
    assert [t["data"]["text"] for t in tasks] == result.frame["text"].tolist()
    first = tasks[0]["predictions"][0]
    assert first["result"][0]["from_name"] == "primary"
    assert first["result"][0]["value"]["choices"] == [result.frame["guess"].iloc[0]]
    assert first["score"] == pytest.approx(result.frame["probability"].iloc[0])
    config = (tmp_path / "tasks.label-config.xml").read_text(encoding="utf-8")
    assert '<Choices name="primary" toName="text" choice="single"' in config


def test_a_label_studio_export_trains_like_a_csv(trained_model_dir, pool_path,
                                                 train_small_path, train_config_path,
                                                 tmp_path):
    tasks_path = tmp_path / "tasks.json"
    suggest([pool_path], model=trained_model_dir, n=8, label_studio=tasks_path)
    export = tmp_path / "export.json"
    tasks = json.loads(tasks_path.read_text(encoding="utf-8"))
    export.write_text(json.dumps(_export_from(tasks)), encoding="utf-8")
    result = train([train_small_path, export], config=train_config_path)
    assert result.n_sentences == 88 + 8


def test_read_label_studio_takes_the_primary_then_the_other_themes(taxonomy, tmp_path):
    consular = "Citizens abroad, consular affairs and diaspora"  # a theme's name, not its id
    export = tmp_path / "export.json"
    export.write_text(json.dumps([
        {"id": 1, "data": {"text": "Gas and trade.", "doc_id": "D1"}, "annotations": [
            {"was_cancelled": False, "result": [
                {"from_name": "themes", "to_name": "text", "type": "choices",
                 "value": {"choices": ["economic_trade"]}},
                {"from_name": "primary", "to_name": "text", "type": "choices",
                 "value": {"choices": ["energy_diplomacy"]}}]}]},
        {"id": 2, "data": {"text": "Not labeled yet."}, "annotations": []},
        {"id": 3, "data": {"text": "Cancelled."}, "annotations": [
            {"was_cancelled": True, "result": []}]},
        {"id": 4, "data": {"text": "Visas."}, "annotations": [
            {"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                         "value": {"choices": [consular]}}]}]},
    ]), encoding="utf-8")
    frame, rows, skipped = read_label_studio(export)
    assert frame["text"].tolist() == ["Gas and trade.", "Visas."]
    assert frame["themes"].tolist() == ["energy_diplomacy;economic_trade", consular]
    assert (rows, skipped) == ([1, 4], [])
    table = read_labeled_table(export, taxonomy)
    assert table.frame["themes"].tolist() == [["energy_diplomacy", "economic_trade"],
                                              ["consular_diaspora"]]
    assert table.rows == [1, 4]


def test_read_label_studio_names_the_task_with_an_unknown_theme(taxonomy, tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{"data": {"text": "A."}, "annotations": [{"result": [
        {"from_name": "primary", "type": "choices", "value": {"choices": ["nope"]}}]}]}]),
        encoding="utf-8")
    with pytest.raises(DataError, match="unknown theme 'nope' in row 1"):
        read_labeled_table(export, taxonomy)


def test_read_label_studio_refuses_other_json(taxonomy, tmp_path):
    export = tmp_path / "export.json"
    export.write_text('{"not": "tasks"', encoding="utf-8")
    with pytest.raises(DataError, match="not a Label Studio JSON export"):
        read_label_studio(export)


def test_label_studio_config_lists_every_theme_twice(taxonomy):
    config = label_studio_config(taxonomy, context_columns=["context_before"])
    for theme in taxonomy.ids:
        assert config.count(f'value="{theme}"') == 2
    assert '<Text name="ctx_context_before" value="$context_before"' in config


def test_a_pools_own_guess_column_is_kept_apart(trained_model_dir, pool_path, tmp_path):
    frame = pd.read_csv(pool_path).assign(guess="someone else's")
    frame.to_csv(pool_path, index=False)
    tasks_path = tmp_path / "tasks.json"
    result = suggest([pool_path], model=trained_model_dir, n=3, label_studio=tasks_path)
    assert (result.frame["guess"] == "someone else's").all()
    tasks = json.loads(tasks_path.read_text(encoding="utf-8"))
    chosen = tasks[0]["predictions"][0]["result"][0]["value"]["choices"]
    assert chosen == [result.frame["suggest_guess"].iloc[0]]
