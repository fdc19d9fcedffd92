import json

import numpy as np
import pandas as pd
import pytest

from policy_themes.errors import DataError, ModelError
from policy_themes.model.theme_model import ThemeModel, format_top_k, load_model, top_k_cells
from policy_themes.rules.taxonomy import load_taxonomy
from policy_themes.workflows.prediction import PredictRun, predict_files

TEXTS = ["The two ministers discussed the new gas pipeline across the Caspian Sea.",
         "The consulate will issue emergency passports to stranded citizens.",
         "Border guards seized a shipment of narcotics and arrested the smugglers.",
         "The ceremony ended with a reception."]
PRIMARY = ["energy_diplomacy", "consular_diaspora", "counter_terrorism", "none"]
COLUMNS = ["text", "primary", "probability", "themes", "theme_probabilities", "top_k"]


@pytest.fixture(scope="module")
def model(trained_model_dir) -> ThemeModel:
    return load_model(trained_model_dir, trust_pickle=True)  # explain reads model.joblib


def test_model_properties(model, trained_model_dir, taxonomy):
    assert model.name == "small"
    assert model.path == trained_model_dir
    assert model.classes == taxonomy.ids
    assert set(model.thresholds) == set(taxonomy.theme_ids)
    assert model.taxonomy_ids == taxonomy.ids
    assert model.taxonomy().ids == taxonomy.ids
    assert model.majority_theme() == "none"  # 22 each: ties go to the largest id


def test_predict_columns_and_values(model):
    frame = model.predict(TEXTS)
    assert list(frame.columns) == COLUMNS
    assert frame["text"].tolist() == TEXTS
    assert frame["primary"].tolist() == PRIMARY
    _, sets, proba, _ = model.predict_arrays(TEXTS)
    assert frame["themes"].tolist() == [";".join(s) for s in sets]
    for i, row in frame.iterrows():
        assert row["themes"].split(";")[0] == row["primary"]
        assert row["probability"] == proba[i, model.classes.index(row["primary"])]
        assert row["probability"] == proba[i].max()
        top = row["top_k"]
        assert len(top) == 3
        assert top[0] == [row["primary"], round(row["probability"], 4)]
        assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert frame["themes"].iloc[3] == "none"


def test_every_theme_of_the_set_has_its_membership_probability(model, train_small_path):
    texts = TEXTS + pd.read_csv(train_small_path)["text"].tolist()
    frame = model.predict(texts)
    _, sets, proba, membership = model.predict_arrays(texts)
    themes = [c for c in model.classes if c != "none"]
    for i, pairs in enumerate(frame["theme_probabilities"]):
        assert [theme for theme, _ in pairs] == sets[i]
        for theme, p in pairs:
            expected = (proba[i, model.classes.index(theme)] if theme == "none"
                        else membership[i, themes.index(theme)])
            assert p == round(float(expected), 4)
        for theme, p in pairs[1:]:  # the other members are over their thresholds
            assert p >= round(model.thresholds[theme], 4) - 1e-4
    assert any(len(pairs) > 1 for pairs in frame["theme_probabilities"])

@pytest.mark.parametrize(("k", "length"), [(1, 1), (5, 5), (100, 16)])
def test_top_k_length(model, k, length):
    top = model.predict(TEXTS[:1], top_k=k)["top_k"][0]
    assert len(top) == length
    assert len({theme for theme, _ in top}) == length


def test_top_k_cells_write_what_format_top_k_writes():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(6), size=2000)
    # values at and around the halves of the fourth decimal
    proba[:6, 0] = [0.0005, 0.12345, 0.12355, 0.9995, 0.00049999, 1.0]
    proba[6:12, 1] = [0.0, 0.4444999, 0.44445, 0.5, 0.2345, 0.99949999]
    classes = [f"theme_{j}" for j in range(6)]
    order = np.argsort(-proba, axis=1)[:, :3]
    expected = [format_top_k([[classes[j], round(float(proba[i, j]), 4)] for j in row])
                for i, row in enumerate(order)]
    assert top_k_cells(proba, order, classes) == expected
    assert top_k_cells(proba[:0], order[:0], classes) == []


def test_member_cells_write_what_format_top_k_writes_of_the_sets():
    from policy_themes.model.decisions import decide_themes, set_members
    from policy_themes.model.theme_model import member_cell_array, member_pairs

    rng = np.random.default_rng(1)
    classes = [f"theme_{j}" for j in range(5)] + ["none"]
    themes = classes[:5]
    proba = rng.dirichlet(np.ones(6) * 0.3, size=3000)
    membership = rng.beta(0.3, 2, size=(3000, 5))
    thresholds = np.array([0.2, 0.3, 0.35, 0.5, 0.9])
    members = set_members(proba, membership, classes, themes, thresholds)
    pairs = member_pairs(members, classes, themes)
    assert [[theme for theme, _ in row] for row in pairs] == decide_themes(
        proba, membership, classes, themes, thresholds)[1]
    assert list(member_cell_array(members, classes, themes)) == [format_top_k(p) for p in pairs]
    assert any(len(row) > 2 for row in pairs) and any(len(row) == 1 for row in pairs)


def test_top_k_cells_round_every_ten_thousandth_and_the_halves_between_like_python():
    halves = (np.arange(20001) + 0.5) / 20000
    grid = np.concatenate([np.arange(10001) / 10000, halves, np.nextafter(halves, 0),
                           np.nextafter(halves, 1), np.arange(161) / 160])
    values = np.clip(grid, 0, 1).reshape(-1, 1)
    expected = [f"gas:{round(float(v), 4):.4f}" for v in values[:, 0]]
    assert top_k_cells(values, np.zeros_like(values, dtype=np.int64), ["gas"]) == expected


def test_predict_nothing(model):
    frame = model.predict([])
    assert list(frame.columns) == COLUMNS
    assert frame.empty


def test_predict_odd_texts(model):
    frame = model.predict(["", "   ", "ÖL UND GAS! 🚀", 42])
    assert frame["text"].tolist() == ["", "   ", "ÖL UND GAS! 🚀", "42"]
    assert all(frame["primary"].isin(model.classes))


def test_check_taxonomy_refuses_another_taxonomy(model, data_dir, taxonomy):
    mini = load_taxonomy(data_dir / "mini_taxonomy.yaml")
    with pytest.raises(ModelError) as info:
        model.check_taxonomy(mini)
    only_model = ", ".join(sorted(t for t in taxonomy.ids if t != "none"))
    assert str(info.value) == (
        f"the model at {model.path} was built for another taxonomy (only in the model: "
        f"{only_model}; only in {mini.source}: cooperation, energy, trade); retrain it with "
        "this taxonomy"
    )
    model.check_taxonomy(taxonomy)  # the same ids: accepted


def test_explain_lists_positive_terms_and_fired_rules(model):
    explanations = model.explain(TEXTS, n_terms=4)
    assert [e["primary"] for e in explanations] == PRIMARY
    for e in explanations:
        assert len(e["terms"]) <= 4
        weights = [w for _, w in e["terms"]]
        assert all(w > 0 for w in weights)
        assert weights == sorted(weights, reverse=True)
        assert all(name.startswith(("word:", "rule:")) for name, _ in e["terms"])
    energy = explanations[0]
    names = [name for name, _ in energy["terms"]]
    assert "rule:energy_diplomacy" in names or "word:gas" in names or "word:pipeline" in names
    assert "en_hydrocarbons" in energy["rules"]
    assert set(explanations[2]["rules"]) == {"ct_crime"}
    assert explanations[3]["rules"] == []


def test_explain_with_another_taxonomy_reports_its_rules(model, data_dir):
    mini = load_taxonomy(data_dir / "mini_taxonomy.yaml")
    assert model.explain(TEXTS[:1], taxonomy=mini)[0]["rules"] == ["energy_words"]


@pytest.fixture
def inputs(tmp_path):
    doc = tmp_path / "statement.txt"
    doc.write_text("The new gas pipeline was opened. Our consulate helps stranded citizens. "
                   "Police arrested drug traffickers. Thank you.", encoding="utf-8")
    table = tmp_path / "sentences.csv"
    pd.DataFrame({"id": ["s1", "s2", "s3", "s4", "s5"],
                  "text": TEXTS + ["Oil exports rose."],
                  "country": ["AZE", "GEO", "KAZ", "NOR", "TUR"]}).to_csv(table, index=False)
    return doc, table


def read_back(path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        frame = pd.DataFrame([json.loads(line) for line in path.read_text("utf-8").splitlines()])
        # JSON lines hold lists: written here as the text cells of the other formats
        assert all(isinstance(cell, list) for cell in frame["themes"])
        frame["themes"] = frame["themes"].map(";".join)
        for name in ("theme_probabilities", "top_k"):
            frame[name] = frame[name].map(format_top_k)
        return frame
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_predict_files_on_a_document(model, inputs, tmp_path, suffix):
    doc, _ = inputs
    out = tmp_path / f"out{suffix}"
    run = predict_files(model, [doc], out=out, chunksize=2)
    assert isinstance(run, PredictRun)
    assert (run.sentences, run.output) == (4, out)
    frame = read_back(out)
    assert list(frame.columns) == ["doc_id", "sentence", "start", "end", *COLUMNS]
    assert frame["text"].tolist() == ["The new gas pipeline was opened.",
                                      "Our consulate helps stranded citizens.",
                                      "Police arrested drug traffickers.", "Thank you."]
    assert frame["doc_id"].tolist() == ["statement"] * 4
    assert [int(s) for s in frame["sentence"]] == [0, 1, 2, 3]
    assert frame["primary"].iloc[0] == "energy_diplomacy"
    assert frame["top_k"].iloc[0].startswith("energy_diplomacy:0.")
    assert frame["top_k"].iloc[0].count(";") == 2


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_predict_files_on_a_table_keeps_order_and_columns(model, inputs, tmp_path, suffix):
    _, table = inputs
    out = tmp_path / f"out{suffix}"
    run = predict_files(model, [table], out=out, chunksize=2, top_k=2)  # 3 chunks
    assert run.sentences == 5
    frame = read_back(out)
    assert list(frame.columns) == ["doc_id", "sentence", "id", "country", *COLUMNS]
    assert frame["text"].tolist() == TEXTS + ["Oil exports rose."]
    assert frame["country"].tolist() == ["AZE", "GEO", "KAZ", "NOR", "TUR"]
    # sentence ids are not documents: each row is a document of its own, its id kept
    assert frame["doc_id"].tolist() == [f"sentences:{row}" for row in range(1, 6)]
    assert frame["id"].tolist() == ["s1", "s2", "s3", "s4", "s5"]
    assert frame["primary"].tolist()[:4] == PRIMARY
    assert all(value.count(";") == 1 for value in frame["top_k"])
    expected = model.predict(TEXTS + ["Oil exports rose."])["probability"].to_numpy()
    # written with 4 decimals
    np.testing.assert_array_equal(frame["probability"].astype(float), np.round(expected, 4))


def test_predict_files_on_a_document_and_a_table_as_jsonl(model, inputs, tmp_path):
    doc, table = inputs
    out = tmp_path / "out.jsonl"
    run = predict_files(model, [doc, table], out=out, chunksize=2)
    frame = read_back(out)
    assert run.sentences == 9
    assert frame["doc_id"].tolist() == ["statement"] * 4 + [f"sentences:{r}" for r in range(1, 6)]
    assert frame["text"].tolist()[4:] == TEXTS + ["Oil exports rose."]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_files_on_a_document_and_a_table_in_one_table(model, inputs, tmp_path, suffix):
    doc, table = inputs
    out = tmp_path / f"out{suffix}"
    try:
        predict_files(model, [doc, table], out=out)
    except DataError:  # refusing is fine, as long as nothing is written
        assert not out.exists()
        return
    frame = read_back(out)
    assert frame["text"].tolist()[4:] == TEXTS + ["Oil exports rose."]
    assert frame["country"].tolist()[4:] == ["AZE", "GEO", "KAZ", "NOR", "TUR"]


def test_predict_files_without_output_keeps_a_preview(model, inputs):
    _, table = inputs
    run = predict_files(model, [table], preview_rows=3, chunksize=2)
    assert run.output is None and run.sentences == 5
    assert run.preview["text"].tolist() == TEXTS[:3]


def test_predict_files_refuses_to_overwrite_its_input(model, inputs):
    _, table = inputs
    before = table.read_bytes()
    with pytest.raises(DataError, match="the output path is also an input"):
        predict_files(model, [table], out=table)
    assert table.read_bytes() == before


def test_load_model_refuses_a_pickle_that_is_not_a_pipeline(model_copy):
    import joblib

    from policy_themes.io.checksums import file_sha256
    from policy_themes.model.store import MODEL_FILE

    joblib.dump({"not": "a pipeline"}, model_copy / MODEL_FILE)
    meta = json.loads((model_copy / "model.json").read_text(encoding="utf-8"))
    meta["sha256"] = {MODEL_FILE: file_sha256(model_copy / MODEL_FILE)}
    (model_copy / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError) as info:  # without model.npz, nothing is unpickled
        load_model(model_copy)
    assert str(info.value) == (f"{model_copy}: no model.npz, the model's arrays (predict, "
                               "evaluate and info never unpickle its model.joblib); retrain it "
                               "with `policy-themes train`")
    with pytest.raises(ModelError) as info:
        load_model(model_copy, trust_pickle=True)
    assert str(info.value) == (f"{model_copy}: model.joblib does not hold a policy-themes "
                               "pipeline")


def test_explain_with_two_classes_uses_the_binary_head(train_small_path, train_config_path,
                                                       taxonomy):
    from policy_themes.config import load_train_config
    from policy_themes.workflows.training import train_model

    frame = pd.read_csv(train_small_path)
    frame = frame[frame["themes"].str.split(";").str[0].isin(["energy_diplomacy", "none"])]
    config = load_train_config(train_config_path).with_overrides(folds=0)
    result = train_model(frame["text"].tolist(), [t.split(";") for t in frame["themes"]],
                         config=config, taxonomy=taxonomy)
    model = ThemeModel(result.pipeline, {})
    assert result.pipeline.named_steps["clf"].primary_.coef_.shape[0] == 1
    energy, plain = model.explain(["Gas and oil pipeline.", "Thank you."])
    assert energy["primary"] == "energy_diplomacy" and plain["primary"] == "none"
    assert energy["terms"][0][0] == "rule:energy_diplomacy"
    assert "word:thank" in [name for name, _ in plain["terms"]]
    assert all(weight > 0 for _, weight in energy["terms"] + plain["terms"])
