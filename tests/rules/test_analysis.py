import copy
import math

import numpy as np
import pandas as pd
import pytest

from policy_themes.io.labels import parse_themes
from policy_themes.rules.analysis import RuleAnalysis, analyze_rules
from policy_themes.rules.labeling import label_sentences
from policy_themes.rules.taxonomy import load_taxonomy


@pytest.fixture
def mini(data_dir):
    return load_taxonomy(data_dir / "mini_taxonomy.yaml")


@pytest.fixture
def analysis(mini, data_dir):
    frame = pd.read_csv(data_dir / "labeled_mini.csv")
    gold = parse_themes(frame["themes"], mini)
    result = label_sentences(frame["text"].tolist(), mini)
    return analyze_rules(result, mini, gold)


def test_rule_summary_matches_hand_count(analysis):
    rules = analysis.rule_summary()
    assert rules.loc["energy_words", "fires"] == 1
    assert rules.loc["energy_generic", "fires"] == 2
    assert rules.loc["energy_generic", "overlaps"] == pytest.approx(2 / 7)
    assert rules.loc["energy_generic", "conflicts"] == pytest.approx(2 / 7)
    assert rules.loc["energy_words", "overlaps"] == 0
    assert rules.loc["trade_words", "coverage"] == pytest.approx(2 / 7)
    assert rules.loc["trade_words", "conflicts"] == pytest.approx(1 / 7)
    assert rules.loc["coop", "precision"] == 1.0
    assert rules["incorrect"].sum() == 0


def test_theme_summary_matches_hand_count(analysis):
    themes = analysis.theme_summary()
    assert themes.loc["energy", "labeled"] == 3
    assert themes.loc["energy", "primary"] == 1
    assert themes.loc["trade", "primary"] == 2
    assert themes.loc["cooperation", "recall"] == pytest.approx(0.5)
    assert themes.loc["cooperation", "f1"] == pytest.approx(2 / 3)
    assert themes.loc["none", "precision"] == pytest.approx(2 / 3)
    assert themes.loc["none", "recall"] == 1.0


def test_overall_figures(analysis):
    overall = analysis.overall()
    assert overall["sentences"] == 7
    assert overall["coverage"] == pytest.approx(4 / 7)
    assert overall["precision"] == 1.0
    assert overall["recall"] == pytest.approx(6 / 7)
    assert overall["primary_accuracy"] == pytest.approx(6 / 7)
    assert overall["primary_precision"] == 1.0
    assert overall["coverage_of_themed"] == pytest.approx(0.8)


def test_conflict_matrix(analysis):
    matrix = analysis.conflict_matrix()
    assert list(matrix.index) == ["energy", "trade", "cooperation"]
    assert matrix.loc["energy", "trade"] == 1
    assert matrix.loc["energy", "cooperation"] == 1
    assert matrix.loc["trade", "cooperation"] == 0
    assert matrix.loc["energy", "energy"] == 3


def test_batches_accumulate_to_the_same_figures(mini, data_dir, analysis):
    frame = pd.read_csv(data_dir / "labeled_mini.csv")
    gold = parse_themes(frame["themes"], mini)
    streamed = RuleAnalysis(mini)
    for start in range(0, len(frame), 3):
        part = frame.iloc[start:start + 3]
        streamed.update(label_sentences(part["text"].tolist(), mini), gold[start:start + 3])
    pd.testing.assert_frame_equal(streamed.rule_summary(), analysis.rule_summary())
    assert streamed.overall() == analysis.overall()


def test_counters_of_batches_add_up_to_the_figures_of_the_whole(mini, data_dir, analysis):
    frame = pd.read_csv(data_dir / "labeled_mini.csv")
    gold = parse_themes(frame["themes"], mini)
    total = RuleAnalysis(mini)
    for start in range(0, len(frame), 4):  # as worker processes count their chunks
        part = frame.iloc[start:start + 4]
        counted = RuleAnalysis(mini)
        counted.update(label_sentences(part["text"].tolist(), mini), gold[start:start + 4])
        total.add_counters(counted.counters())
    pd.testing.assert_frame_equal(total.rule_summary(), analysis.rule_summary())
    pd.testing.assert_frame_equal(total.theme_summary(), analysis.theme_summary())
    assert total.overall() == analysis.overall()
    assert (total.cooccurrence == analysis.cooccurrence).all()


def test_update_changes_nothing_but_the_counters(mini, data_dir):
    """A count update keeps that is not in RuleAnalysis._COUNTERS would be lost between the
    worker processes and the one that adds their counters."""
    frame = pd.read_csv(data_dir / "labeled_mini.csv")
    gold = parse_themes(frame["themes"], mini)
    analysis = RuleAnalysis(mini)
    before = copy.deepcopy(vars(analysis))
    analysis.update(label_sentences(frame["text"].tolist(), mini), gold)
    changed = {name for name, value in vars(analysis).items()
               if not np.array_equal(value, before[name])
               if isinstance(value, (int, np.ndarray))}
    assert changed and changed <= set(RuleAnalysis._COUNTERS)


def test_without_gold_there_are_no_accuracy_columns(mini):
    result = label_sentences(["Oil."], mini)
    analysis = analyze_rules(result, mini)
    assert "precision" not in analysis.rule_summary().columns
    assert "recall" not in analysis.overall()


def test_reports_render(analysis):
    import json

    data = json.loads(analysis.to_json())
    assert data["overall"]["sentences"] == 7
    assert {r["rule"] for r in data["rules"]} == {"energy_words", "energy_generic",
                                                    "trade_words", "coop"}
    markdown = analysis.to_markdown()
    assert "| energy_words | energy |" in markdown
    assert "## Theme co-occurrence" in markdown
    assert not math.isnan(data["overall"]["recall"])
