"""What to label next (suggest.py) and the Label Studio files it writes and reads back (the
rankings: test_pool_ranking.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from policy_themes.errors import ConfigError, DataError
from policy_themes.io.labels import read_labeled_table
from policy_themes.io.labelstudio import label_studio_config, read_label_studio
from policy_themes.workflows.suggest import suggest
from policy_themes.workflows.training import train


@pytest.fixture
def pool_path(train_small_path, tmp_path):
    """train_small.csv without its labels: an unlabeled pool with documents."""
    path = tmp_path / "pool.csv"
    pd.read_csv(train_small_path).drop(columns=["themes"]).to_csv(path, index=False)
    return path


def test_suggest_writes_rows_to_fill_in(trained_model_dir, pool_path, tmp_path):
    out = tmp_path / "next.csv"
    result = suggest([pool_path], skip_training_data=False, model=trained_model_dir, n=10, out=out)
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
    suggest([pool_path], skip_training_data=False, model=trained_model_dir, n=10, out=out)
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
        suggest([pool_path], skip_training_data=False, model=trained_model_dir, n=0)
    with pytest.raises(ConfigError, match="ranking must be one of"):
        suggest([pool_path], model=trained_model_dir, ranking="best")


def test_suggest_with_a_context_model_writes_the_context_it_read(pool_path, data_dir,
                                                                 train_small_path, tmp_path):
    model_dir = tmp_path / "context-model"
    train([train_small_path], config=data_dir / "train_context.yaml", model_dir=model_dir)
    result = suggest([pool_path], skip_training_data=False, model=model_dir, n=5)
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
    result = suggest([pool_path], skip_training_data=False,
                     model=trained_model_dir, n=6, label_studio=tasks_path)
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
    suggest([pool_path], skip_training_data=False,
            model=trained_model_dir, n=8, label_studio=tasks_path)
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
    result = suggest([pool_path], skip_training_data=False,
                     model=trained_model_dir, n=3, label_studio=tasks_path)
    assert (result.frame["guess"] == "someone else's").all()
    tasks = json.loads(tasks_path.read_text(encoding="utf-8"))
    chosen = tasks[0]["predictions"][0]["result"][0]["value"]["choices"]
    assert chosen == [result.frame["suggest_guess"].iloc[0]]


# --- doccano and Prodigy ------------------------------------------------------------------------

def _jsonl(path, objects) -> None:
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_doccano_and_prodigy_tasks_carry_the_guesses(trained_model_dir, pool_path, tmp_path):
    doccano, prodigy = tmp_path / "doccano.jsonl", tmp_path / "prodigy.jsonl"
    result = suggest([pool_path], skip_training_data=False, model=trained_model_dir, n=6,
                     doccano=doccano, prodigy=prodigy)
    assert result.outputs == [doccano, prodigy]
    guesses = [s.split(";") for s in result.frame["guess_themes"]]
    tasks = _lines(doccano)
    assert [t["text"] for t in tasks] == result.frame["text"].tolist()
    assert [t["label"] for t in tasks] == guesses
    assert tasks[0]["meta"]["doc_id"] == result.frame["doc_id"].iloc[0]
    assert tasks[0]["meta"]["guess"] == result.frame["guess"].iloc[0]
    choices = _lines(prodigy)
    assert [t["accept"] for t in choices] == guesses
    options = [o["id"] for o in choices[0]["options"]]
    assert options == list(_taxonomy_of(trained_model_dir).ids)


def test_a_doccano_export_trains_like_a_csv(trained_model_dir, pool_path, train_small_path,
                                            train_config_path, tmp_path):
    tasks_path = tmp_path / "doccano.jsonl"
    suggest([pool_path], skip_training_data=False, model=trained_model_dir, n=8,
            doccano=tasks_path)
    gold = pd.read_csv(train_small_path).set_index("text")["themes"]
    export = [{"id": i, "text": t["text"], "label": gold[t["text"]].split(";"),
               "Comments": [], **t["meta"]} for i, t in enumerate(_lines(tasks_path), 1)]
    export.append({"id": 99, "text": "Not labeled yet.", "label": [], "Comments": []})
    _jsonl(tmp_path / "export.jsonl", export)
    table = read_labeled_table(tmp_path / "export.jsonl", _taxonomy_of(trained_model_dir))
    assert len(table.frame) == 8 and table.rows == list(range(1, 9))
    assert "Comments" not in table.frame.columns and "doc_id" in table.frame.columns
    result = train([train_small_path, tmp_path / "export.jsonl"], config=train_config_path)
    assert result.n_sentences == 88 + 8


def _taxonomy_of(model_dir):
    from policy_themes.model.theme_model import load_model

    return load_model(model_dir).taxonomy()


def test_a_prodigy_export_gives_its_accepted_answers(taxonomy, tmp_path):
    export = tmp_path / "db-out.jsonl"
    _jsonl(export, [
        {"text": "Gas and trade.", "options": [{"id": "energy_diplomacy", "text": "E"}],
         "accept": ["energy_diplomacy", "economic_trade"], "answer": "accept",
         "_input_hash": 1, "meta": {"doc_id": "D1", "score": 0.4}},
        {"text": "Rejected.", "accept": ["energy_diplomacy"], "answer": "reject"},
        {"text": "Ignored.", "accept": ["energy_diplomacy"], "answer": "ignore"},
        {"text": "Nothing chosen.", "accept": [], "answer": "accept"},
        {"text": "Visas.", "accept": ["consular_diaspora"], "answer": "accept"},
    ])
    table = read_labeled_table(export, taxonomy)
    assert table.frame["text"].tolist() == ["Gas and trade.", "Visas."]
    assert table.frame["themes"].tolist() == [["energy_diplomacy", "economic_trade"],
                                              ["consular_diaspora"]]
    assert table.rows == [1, 5]
    assert table.frame["doc_id"].iloc[0] == "D1" and pd.isna(table.frame["doc_id"].iloc[1])
    assert not {"options", "answer", "_input_hash"} & set(table.frame.columns)


def test_a_prodigy_binary_textcat_export_labels_the_accepted_theme(taxonomy, tmp_path):
    export = tmp_path / "binary.jsonl"
    _jsonl(export, [{"text": "Oil.", "label": "energy_diplomacy", "answer": "accept"},
                    {"text": "Tariffs.", "label": "energy_diplomacy", "answer": "reject"}])
    table = read_labeled_table(export, taxonomy)
    assert table.frame["themes"].tolist() == [["energy_diplomacy"]]


def test_an_export_with_labels_that_are_not_ids_is_refused(taxonomy, tmp_path):
    export = tmp_path / "bad.jsonl"
    _jsonl(export, [{"text": "Oil.", "label": [{"id": 1}]}])
    with pytest.raises(DataError, match="line 1: the labels must be a list of theme ids"):
        read_labeled_table(export, taxonomy)
    _jsonl(export, [{"text": "Oil.", "label": ["nope"]}])
    with pytest.raises(DataError, match="unknown theme 'nope' in row 1"):
        read_labeled_table(export, taxonomy)


# --- Label Studio JSON-MIN ----------------------------------------------------------------------

def test_read_label_studio_reads_the_json_min_export(taxonomy, tmp_path):
    export = tmp_path / "export-min.json"
    export.write_text(json.dumps([
        {"text": "Gas and trade.", "doc_id": "D1", "id": 7, "primary": "energy_diplomacy",
         "themes": {"choices": ["economic_trade", "energy_diplomacy"]}, "annotator": 1,
         "annotation_id": 3, "created_at": "2026-01-01", "updated_at": "2026-01-01",
         "lead_time": 4.2},
        {"text": "Visas.", "id": 8, "themes": "consular_diaspora", "annotator": 1},
        {"text": "Skipped.", "id": 9, "annotator": 1},
    ]), encoding="utf-8")
    frame, rows, skipped = read_label_studio(export)
    assert frame["themes"].tolist() == ["energy_diplomacy;economic_trade", "consular_diaspora"]
    assert (rows, skipped) == ([1, 2], [])
    assert "annotator" not in frame.columns and frame["doc_id"].iloc[0] == "D1"
    table = read_labeled_table(export, taxonomy)
    assert table.frame["themes"].tolist() == [["energy_diplomacy", "economic_trade"],
                                              ["consular_diaspora"]]


def test_read_label_studio_json_min_of_a_project_of_ones_own(tmp_path):
    export = tmp_path / "export-min.json"
    export.write_text(json.dumps([{"text": "A.", "sentiment": {"choices": ["b", "a"]}},
                                  {"text": "B.", "sentiment": "a"}]), encoding="utf-8")
    frame, _, _ = read_label_studio(export, control="sentiment")
    assert frame["themes"].tolist() == ["b;a", "a"]
    full = tmp_path / "export.json"
    full.write_text(json.dumps([{"data": {"text": "A."}, "annotations": [{"result": [
        {"from_name": "sentiment", "type": "choices", "value": {"choices": ["b"]}},
        {"from_name": "other", "type": "choices", "value": {"choices": ["c"]}}]}]}]),
        encoding="utf-8")
    assert read_label_studio(full, control="sentiment")[0]["themes"].tolist() == ["b"]
    export.write_text(json.dumps([{"text": "A.", "primary": {"choices": 3}}]), encoding="utf-8")
    with pytest.raises(DataError, match="task 1: 'primary' is not a Label Studio choice"):
        read_label_studio(export)


# --- sentences labeled already ------------------------------------------------------------------

NEW_SENTENCES = ["The pipeline to the north will carry gas from next year.",
                 "Our embassy issued two hundred visas this week.",
                 "Tariffs on steel were lowered in the new agreement.",
                 "The minister met her counterpart to discuss the border.",
                 "A trade fair opens in the capital on Monday."]


def test_suggest_leaves_out_the_models_training_sentences(trained_model_dir, pool_path,
                                                          tmp_path):
    frame = pd.read_csv(pool_path)
    extra = pd.DataFrame({"doc_id": "new", "text": NEW_SENTENCES})
    pd.concat([frame, extra]).to_csv(pool_path, index=False)
    result = suggest([pool_path], model=trained_model_dir, n=50)
    assert result.pool_size == 88 + 5
    assert result.excluded == 88
    assert sorted(result.frame["text"]) == sorted(NEW_SENTENCES)
    assert result.exclude_sources and result.notes == []


def test_suggest_leaves_out_the_sentences_of_exclude_files(trained_model_dir, tmp_path):
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"text": NEW_SENTENCES}).to_csv(pool, index=False)
    labeled = tmp_path / "labeled.csv"
    pd.DataFrame({"text": ["  our EMBASSY issued two hundred   visas this week.",
                           "Tariffs on steel were lowered in the new agreement."],
                  "themes": ["consular_diaspora", "economic_trade"]}).to_csv(labeled,
                                                                             index=False)
    result = suggest([pool], model=trained_model_dir, n=50, exclude=[labeled])
    assert result.excluded == 2
    assert set(result.frame["text"]) == set(NEW_SENTENCES) - set(NEW_SENTENCES[1:3])
    with pytest.raises(DataError, match="every sentence of the pool is labeled already"):
        suggest([labeled.with_name("pool.csv")], model=trained_model_dir,
                exclude=[pool])


def test_suggest_notes_a_training_file_it_cannot_read(model_copy, tmp_path):
    meta = json.loads((model_copy / "model.json").read_text(encoding="utf-8"))
    meta["training_data"]["files"] = [str(tmp_path / "gone.csv")]
    (model_copy / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"text": NEW_SENTENCES}).to_csv(pool, index=False)
    try:
        result = suggest([pool], model=model_copy, n=3)
    except Exception as exc:  # a model.json edited by hand may be refused (its checksum)
        pytest.skip(f"model.json cannot be edited here: {exc}")
    assert result.excluded == 0
    assert len(result.notes) == 1 and "gone.csv" in result.notes[0]
