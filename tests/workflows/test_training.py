import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from policy_themes.config import ThresholdConfig, load_train_config
from policy_themes.errors import DataError
from policy_themes.io.checksums import file_sha256
from policy_themes.model.decisions import choose_thresholds
from policy_themes.model.store import MODEL_FILE
from policy_themes.model.theme_model import load_model
from policy_themes.workflows.saving import save_trained
from policy_themes.workflows.training import _splitter, train, train_model
from policy_themes.workflows.training_data import read_training_data

PROBE = ["The two ministers discussed the new gas pipeline across the Caspian Sea.",
         "The consulate will issue emergency passports to stranded citizens.",
         "The ministry condemns the terrorist attack on the airport.",
         "The ceremony ended with a reception."]


@pytest.fixture(scope="module")
def small(train_small_path):
    frame = pd.read_csv(train_small_path)
    return (frame["text"].tolist(), [t.split(";") for t in frame["themes"]],
            frame["doc_id"].tolist())


@pytest.fixture(scope="module")
def config(train_config_path):
    return load_train_config(train_config_path)


def probabilities(result, texts):
    features = result.pipeline[:-1].transform(texts)
    return result.pipeline.named_steps["clf"].predict_themes(features)


# --- choose_thresholds ---------------------------------------------------------------------


def test_choose_thresholds_maximises_each_themes_f1():
    membership = np.array([
        # a     b     c     d
        [0.90, 0.40, 0.15, 0.05],
        [0.80, 0.30, 0.12, 0.02],
        [0.30, 0.20, 0.05, 0.01],
        [0.20, 0.10, 0.11, 0.03],
    ])
    gold = [["a", "c"], ["a"], ["none"], ["d"]]
    chosen = choose_thresholds(membership, gold, ["a", "b", "c", "d"], ThresholdConfig())
    assert chosen == {
        "a": 0.35,  # the lowest threshold that keeps 0.30 out: F1 = 1
        "b": 0.5,   # no positives: the default
        "c": 0.15,  # 0.15 itself counts (>=), 0.12 and 0.11 stay out
        "d": 0.1,   # no threshold in range reaches 0.03: the search starts at the minimum
    }


def test_choose_thresholds_stays_in_the_configured_range():
    membership = np.array([[0.95], [0.92], [0.10]])
    gold = [["a"], ["a"], ["none"]]
    settings = ThresholdConfig(default=0.4, minimum=0.2, maximum=0.6)
    assert choose_thresholds(membership, gold, ["a"], settings) == {"a": 0.2}
    assert choose_thresholds(membership, gold, ["b"], settings) == {"b": 0.4}


# --- train_model ---------------------------------------------------------------------------


def test_train_model_result(small, config, taxonomy):
    texts, themes, groups = small
    result = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups)
    assert result.n_sentences == len(texts) == 88
    assert result.primary_counts == {"energy_diplomacy": 22, "consular_diaspora": 22,
                                     "counter_terrorism": 22, "none": 22}
    assert set(result.thresholds) == set(taxonomy.theme_ids)
    assert all(0.1 <= v <= 0.9 for v in result.thresholds.values())
    assert result.pipeline.named_steps["clf"].thresholds == result.thresholds
    assert result.cv_metrics["n"] == 88
    assert result.cv_metrics["accuracy"] > 0.8
    assert list(result.cv_predictions.columns) == ["text", "gold", "primary", "themes"]
    assert result.cv_predictions["gold"].tolist() == [";".join(t) for t in themes]
    assert len(result.fingerprint) == 64
    primary, _, _, _ = probabilities(result, PROBE)
    assert primary == ["energy_diplomacy", "consular_diaspora", "counter_terrorism", "none"]


def test_progress_reports_every_stage(small, config, taxonomy):
    texts, themes, groups = small
    calls = []
    train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups,
                progress=lambda *args: calls.append(args))
    assert calls[0] == ("cross-validation", 0, 3)
    assert ("cross-validation", 3, 3) in calls
    assert calls[-2:] == [("fit", 0, 1), ("fit", 1, 1)]


def test_training_is_deterministic(small, config, taxonomy, tmp_path):
    texts, themes, groups = small
    first = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups)
    second = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups)
    assert first.thresholds == second.thresholds
    assert first.cv_predictions.equals(second.cv_predictions)
    assert first.fingerprint == second.fingerprint
    one, two = probabilities(first, PROBE), probabilities(second, PROBE)
    assert one[:2] == two[:2]
    np.testing.assert_array_equal(one[2], two[2])
    np.testing.assert_array_equal(one[3], two[3])
    # the saved files are byte-identical too
    save_trained(first, tmp_path / "one")
    save_trained(second, tmp_path / "two")
    assert file_sha256(tmp_path / "one" / MODEL_FILE) == file_sha256(tmp_path / "two" / MODEL_FILE)


def test_training_gives_the_same_files_in_another_process(train_small_path, tmp_path):
    """No id(), no salted hash(): two processes save byte-identical model files (every feature
    block, folds 0 for speed)."""
    import subprocess
    import sys

    code = ("import sys; from policy_themes.workflows.training import train; "
            "from policy_themes.config import load_train_config; "
            "config = load_train_config().with_overrides(folds=0); "
            "train([sys.argv[1]], config=config, model_dir=sys.argv[2])")
    digests = []
    for name, seed in (("a", "1"), ("b", "2")):
        subprocess.run([sys.executable, "-c", code, str(train_small_path), str(tmp_path / name)],
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        digests.append([file_sha256(tmp_path / name / f) for f in (MODEL_FILE, "model.npz")])
    assert digests[0] == digests[1]


def test_fingerprint_depends_on_texts_and_labels(small, taxonomy):
    texts, themes, _ = small
    config = replace(load_train_config().with_overrides(folds=0),
                     features={"word": True, "char": False, "rules": False})
    base = train_model(texts[:8], themes[:8], config=config, taxonomy=taxonomy).fingerprint
    relabeled = [["none"]] + themes[1:8]
    assert train_model(texts[:8], relabeled, config=config, taxonomy=taxonomy).fingerprint != base
    edited = [texts[0] + " "] + texts[1:8]
    assert train_model(edited, themes[:8], config=config, taxonomy=taxonomy).fingerprint != base


def test_too_few_examples_for_the_folds(config, taxonomy):
    texts = [f"Gas talk {i}." for i in range(5)] + ["Thanks.", "Welcome.", "Visa rules."]
    themes = [["energy_diplomacy"]] * 5 + [["none"], ["none"], ["consular_diaspora"]]
    with pytest.raises(DataError) as info:
        train_model(texts, themes, config=config, taxonomy=taxonomy)
    assert str(info.value) == (
        "too few examples for 3-fold cross-validation: 'none' (2), 'consular_diaspora' (1); "
        "add examples or lower the folds (--folds, or cv.folds: 0 to skip)"
    )


def test_too_few_documents_for_the_folds(small, config, taxonomy):
    texts, themes, _ = small
    groups = ["speech-1" if i % 2 else "speech-2" for i in range(len(texts))]
    with pytest.raises(DataError) as info:
        train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups)
    assert str(info.value) == (
        "too few documents for 3-fold cross-validation grouped by document: 2; add documents "
        "or lower the folds (--folds, or cv.folds: 0 to skip)"
    )


def test_a_theme_confined_to_one_document_is_a_data_error(config, taxonomy):
    texts = [f"Gas deal {i}." for i in range(6)] + ["Thanks.", "Welcome.", "Goodbye."]
    themes = [["energy_diplomacy"]] * 6 + [["none"]] * 3
    groups = ["a", "b", "c", "a", "b", "c", "d", "d", "d"]  # every "none" sentence in doc d
    with pytest.raises(DataError) as info:
        train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups)
    assert str(info.value) == (
        "a 3-fold cross-validation split by document leaves only 'energy_diplomacy' to train "
        "on; spread each theme over more documents or lower the folds (--folds, or cv.folds: 0 "
        "to skip)"
    )


def test_a_single_theme_cannot_be_trained(config, taxonomy):
    texts = [f"Sentence {i}." for i in range(6)]
    with pytest.raises(DataError) as info:
        train_model(texts, [["none"]] * 6, config=config, taxonomy=taxonomy)
    assert str(info.value) == ("training needs at least two different primary themes; every "
                               "sentence is 'none'")


def test_no_sentences(config, taxonomy):
    with pytest.raises(DataError, match="^no training sentences$"):
        train_model([], [], config=config, taxonomy=taxonomy)


def test_zero_folds_skips_cross_validation(small, config, taxonomy):
    texts, themes, groups = small
    calls = []
    result = train_model(texts, themes, config=config.with_overrides(folds=0), taxonomy=taxonomy,
                         groups=groups, progress=lambda *args: calls.append(args))
    assert result.cv_metrics is None and result.cv_predictions is None
    assert result.thresholds == dict.fromkeys(taxonomy.theme_ids, 0.5)
    assert calls == [("fit", 0, 1), ("fit", 1, 1)]
    assert probabilities(result, PROBE)[0][0] == "energy_diplomacy"


def test_grouped_splits_never_split_a_document(small, config):
    texts, themes, groups = small
    primary = [t[0] for t in themes]
    doc = np.array(groups)
    splits = list(_splitter(config, groups).split(texts, primary, groups))
    assert len(splits) == 3
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested) == list(range(len(texts)))  # each sentence tested exactly once
    for train_idx, test_idx in splits:
        assert not set(doc[train_idx]) & set(doc[test_idx])


def test_ungrouped_splits_are_stratified(small, config):
    texts, themes, _ = small
    primary = np.array([t[0] for t in themes])
    for _, test_idx in _splitter(config, None).split(texts, primary):
        counts = pd.Series(primary[test_idx]).value_counts()
        assert set(counts.index) == set(primary)
        assert counts.max() - counts.min() <= 1


# --- train (files) -------------------------------------------------------------------------


def test_train_from_files_records_sources(train_small_path, train_config_path, tmp_path):
    table = tmp_path / "no_doc_id.csv"
    pd.read_csv(train_small_path).drop(columns=["doc_id"]).to_csv(table, index=False)
    result = train([table], config=train_config_path)  # cross-validation without groups
    assert result.data_files == [str(table)]
    assert result.weak is False
    assert result.cv_metrics["n"] == 88
    assert not (tmp_path / "models").exists()


def test_weak_training_on_documents(tmp_path, config, taxonomy):
    energy = ["The two ministers signed a gas supply contract.", "Oil exports rose sharply.",
              "A new pipeline will reach the coast.", "The power line was completed."]
    consular = ["The consulate issued new passports.", "Our diaspora met in Berlin.",
                "The visa regime was simplified.", "Stranded tourists were evacuated."]
    terror = ["We condemn the terrorist attack.", "Drug trafficking is rising.",
              "Extremism must be fought.", "Police arrested a smuggling ring."]
    plain = ["Thank you.", "The meeting ended at noon.", "Good afternoon.", "Welcome, friends."]
    for number in range(3):
        sentences = [group[number] for group in (energy, consular, terror, plain)]
        sentences += [group[3] for group in (energy, consular, terror, plain)] if number else []
        (tmp_path / f"statement-{number}.txt").write_text(" ".join(sentences), encoding="utf-8")
    docs = sorted(tmp_path.glob("*.txt"))
    model_dir = tmp_path / "weak-model"
    result = train(docs, config=config, taxonomy=taxonomy, weak=True, model_dir=model_dir)
    assert result.weak is True
    assert result.n_sentences == 20
    assert result.primary_counts == {"energy_diplomacy": 5, "consular_diaspora": 5,
                                     "counter_terrorism": 5, "none": 5}
    assert result.cv_metrics is not None
    model = load_model(model_dir)
    assert model.meta["training_data"]["weak_labels"] is True
    assert model.predict(["Gas and oil exports."])["primary"][0] == "energy_diplomacy"


# --- weights, measured rows, context dropout -------------------------------------------------


def test_measured_rows_are_the_only_ones_cross_validated(small, config, taxonomy):
    texts, themes, groups = small
    measured = [g in {"D01", "D02", "D03", "D04", "D05", "D06"} for g in groups]
    result = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups,
                         measured=measured)
    assert result.cv_metrics["n"] == sum(measured)
    assert result.cv_predictions["text"].tolist() == [t for t, m in zip(texts, measured) if m]
    # every row is in the final fit
    assert result.n_sentences == len(texts)


def test_sample_weights_change_the_model(small, config, taxonomy):
    texts, themes, groups = small
    plain = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups)
    weights = [5.0 if t[0] == "none" else 1.0 for t in themes]
    weighted = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups,
                           sample_weight=weights)
    ones = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups,
                       sample_weight=[1.0] * len(texts))
    def proba(result):
        return result.pipeline.predict_proba(PROBE)

    np.testing.assert_allclose(proba(ones), proba(plain), rtol=1e-6)
    none = list(plain.pipeline.named_steps["clf"].classes_).index("none")
    assert not np.allclose(proba(weighted), proba(plain))
    # PROBE's last sentence is a 'none' one: weighing 'none' rows up makes it surer
    assert proba(weighted)[-1, none] > proba(plain)[-1, none]


def test_drop_context_blanks_a_share_chosen_by_text_and_seed():
    from policy_themes.model.classifier import make_frame
    from policy_themes.workflows.training import drop_context

    texts = [f"sentence {i}" for i in range(2000)]
    frame = make_frame(texts, ["ctx"] * 2000)
    dropped = drop_context(frame, 0.3, seed=0)
    share = (dropped["context"] == "").mean()
    assert 0.25 < share < 0.35
    assert frame["context"].eq("ctx").all()  # a copy
    again = drop_context(frame.iloc[::-1], 0.3, seed=0).iloc[::-1]
    assert again["context"].tolist() == dropped["context"].tolist()
    assert drop_context(frame, 0.3, seed=1)["context"].tolist() != dropped["context"].tolist()


def test_train_reads_each_files_context_weight_and_measure(tmp_path, taxonomy):
    import pandas as pd

    from policy_themes.config import load_train_config

    first = tmp_path / "invented.csv"
    second = tmp_path / "real.csv"
    pd.DataFrame({"text": ["A gas deal.", "A visa office.", "A bomb plot."],
                  "themes": ["energy_diplomacy", "consular_diaspora", "counter_terrorism"],
                  "doc_id": ["d", "d", "d"]}).to_csv(first, index=False)
    pd.DataFrame({"text": ["Oil prices rose."], "themes": ["energy_diplomacy"],
                  "doc_id": ["s"], "context_before": ["Before."],
                  "context_after": ["After."]}).to_csv(second, index=False)
    config = load_train_config()
    rows = read_training_data([first, second], taxonomy, config, text_column="text",
                               label_column=None, encoding=None)
    assert rows.context == ["A visa office.\nA bomb plot.", "A gas deal.\nA bomb plot.",
                            "A gas deal.\nA visa office.", "Before.\nAfter."]
    assert rows.weights is None  # neither file is named in data.weights
    assert rows.measured is None
    assert rows.frame["doc_id"].tolist() == ["0:d", "0:d", "0:d", "1:s"]
