"""The codebook API: the themes table, new taxonomy files, and rule suggestions."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from policy_themes.errors import DataError
from policy_themes.rules.labeling import label_sentences
from policy_themes.rules.matching import normalize_text
from policy_themes.rules.taxonomy import (
    NO_THEME,
    Rule,
    Taxonomy,
    Theme,
    compile_pattern,
    load_taxonomy,
)
from policy_themes.workflows.codebook import (
    ThemeDraft,
    describe_themes,
    draft_themes,
    draft_themes_from_labels,
    init_taxonomy,
    taxonomy_yaml,
)
from policy_themes.workflows.rule_suggestions import suggest_rules, suggest_rules_from_table


def _csv(tmp_path, rows, name="labeled.csv", columns=("text", "themes")):
    path = tmp_path / name
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def _bare(*ids):
    return Taxonomy(tuple(Theme(i, i.title(), "") for i in ids) + (Theme(NO_THEME, "No", ""),))


# --- the themes table ------------------------------------------------------------------------

def test_describe_themes_lists_every_theme_with_its_rules(taxonomy):
    overview = describe_themes()
    table = overview.table
    assert table.index.tolist() == taxonomy.ids
    for theme in taxonomy.themes:
        assert table.loc[theme.id, "name"] == theme.name
        assert table.loc[theme.id, "rules"] == len(theme.rules)
        assert table.loc[theme.id, "patterns"] == sum(len(r.patterns) for r in theme.rules)
    assert "labeled" not in table.columns and overview.data is None


def test_describe_themes_counts_the_labeled_sentences_per_theme(tmp_path, data_dir):
    data = _csv(tmp_path, [("Oil and gas.", "energy"), ("Gas and trade.", "energy;trade"),
                           ("Trade talks.", "trade"), ("Nothing here.", "none")])
    overview = describe_themes(data_dir / "mini_taxonomy.yaml", data)
    table = overview.table
    assert table["labeled"].to_dict() == {"energy": 2, "trade": 2, "cooperation": 0, "none": 1}
    assert table["primary"].to_dict() == {"energy": 2, "trade": 1, "cooperation": 0, "none": 1}
    assert table.loc["trade", "share"] == pytest.approx(0.5)
    assert overview.n_sentences == 4
    assert any("no labeled sentence for cooperation" in n for n in overview.notes)
    assert any("fewer than 5" in n and "energy (2)" in n for n in overview.notes)


def test_describe_themes_notes_the_empty_descriptions(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("themes:\n  - id: a\n    name: A\n  - id: b\n    name: B\n"
                    "    description: about b\n", encoding="utf-8")
    overview = describe_themes(path)
    assert overview.table.loc["a", "description"] == ""
    assert overview.notes == [f"1 theme without a description yet (a): say what a sentence "
                              f"must be about to get each in {path}"]


def test_describe_themes_refuses_unknown_labels(tmp_path, data_dir):
    data = _csv(tmp_path, [("Oil.", "energy"), ("Fish.", "fisheries")])
    with pytest.raises(DataError, match="unknown theme 'fisheries'"):
        describe_themes(data_dir / "mini_taxonomy.yaml", data)


# --- drafting and writing taxonomies -----------------------------------------------------------

def test_draft_themes_takes_ids_and_names_and_puts_none_last():
    drafts = draft_themes(["None", "energy_security", "Trade & investment", "Région 2"])
    assert drafts == [ThemeDraft("energy_security", "Energy security"),
                      ThemeDraft("trade_investment", "Trade & investment"),
                      ThemeDraft("region_2", "Région 2"),
                      ThemeDraft(NO_THEME, "No theme")]


@pytest.mark.parametrize(("themes", "message"), [
    ([], "no themes given"),
    (["  "], "no themes given"),
    (["trade", "Trade"], "both make the id 'trade'"),
    (["none"], "at least one theme besides 'none'"),
])
def test_draft_themes_refuses_bad_lists(themes, message):
    with pytest.raises(DataError, match=message):
        draft_themes(themes)


def test_draft_themes_from_labels_keeps_names_as_the_tables_labels(tmp_path):
    path = _csv(tmp_path, [("a", "Protectionism: Positive"), ("b", "Other"),
                           ("c", "Other"), ("d", "Protectionism: Negative;Other"),
                           ("e", "Other"), ("f", None)],
                columns=("text", "label_text"))
    drafts = draft_themes_from_labels(path, label_column="label_text", none_label="other")
    assert drafts == [ThemeDraft("protectionism_positive", "Protectionism: Positive", 1),
                      ThemeDraft("protectionism_negative", "Protectionism: Negative", 1),
                      ThemeDraft(NO_THEME, "Other", 4)]


def test_draft_themes_from_labels_gives_distinct_ids(tmp_path):
    path = _csv(tmp_path, [("a", 19), ("b", 16), ("c", "Trade-Policy"), ("d", "trade policy"),
                           ("e", 16)], columns=("text", "theme"))
    drafts = draft_themes_from_labels(path)
    assert [(d.id, d.name, d.count) for d in drafts] == [
        ("theme_16", "16", 2), ("theme_19", "19", 1), ("trade_policy", "Trade-Policy", 1),
        ("trade_policy_2", "trade policy", 1), (NO_THEME, "No theme", None)]


def test_draft_themes_from_labels_names_a_missing_column(tmp_path):
    path = _csv(tmp_path, [("a", "x")], columns=("text", "label"))
    with pytest.raises(DataError, match="no label column 'theme'.*--label-column"):
        draft_themes_from_labels(path)


def test_init_writes_a_taxonomy_that_loads_and_reads_its_table(tmp_path):
    path = _csv(tmp_path, [("Tariffs on steel.", "Protectionism: Positive"),
                           ("Free trade now.", "Protectionism: Negative"),
                           ("Schools.", "Other")], columns=("text", "label_text"))
    out = tmp_path / "codebook" / "taxonomy.yaml"
    out.parent.mkdir()
    result = init_taxonomy(out, from_labels=path, label_column="label_text", none_label="Other")
    loaded = load_taxonomy(out)
    assert loaded == result.taxonomy
    assert loaded.name == "codebook"
    assert loaded.ids == ["protectionism_positive", "protectionism_negative", NO_THEME]
    assert all(t.description == "" for t in loaded.themes if t.id != NO_THEME)
    text = out.read_text(encoding="utf-8")
    assert "# What each field does:" in text and "description: \"\"" in text
    assert "1 labeled sentence in labeled.csv" in text
    # the table's labels are the themes' names: it reads as it is
    from policy_themes.io.labels import read_labeled

    frame = read_labeled(path, loaded, label_column="label_text")
    assert [t[0] for t in frame["themes"]] == loaded.ids


def test_a_new_taxonomy_trains_at_once(tmp_path, train_small_path, train_config_path):
    from policy_themes.workflows.training import train

    out = tmp_path / "taxonomy.yaml"
    init_taxonomy(out, from_labels=train_small_path)
    result = train([train_small_path], config=train_config_path, taxonomy=out)
    assert set(result.thresholds) <= set(load_taxonomy(out).ids)
    assert result.cv_metrics["macro_f1"] > 0


def test_init_never_overwrites_unless_told(tmp_path):
    out = tmp_path / "taxonomy.yaml"
    init_taxonomy(out, ["energy"])
    with pytest.raises(DataError, match="exists already.*--force"):
        init_taxonomy(out, ["trade"])
    assert load_taxonomy(out).ids == ["energy", NO_THEME]
    init_taxonomy(out, ["trade"], overwrite=True)
    assert load_taxonomy(out).ids == ["trade", NO_THEME]


def test_init_needs_themes_or_labels_but_not_both(tmp_path):
    for themes, labels in ((None, None), (["a"], tmp_path / "x.csv")):
        with pytest.raises(DataError, match="one of them"):
            init_taxonomy(tmp_path / "t.yaml", themes, from_labels=labels)
    assert not (tmp_path / "t.yaml").exists()


def test_taxonomy_yaml_round_trips_the_shipped_taxonomy(tmp_path, taxonomy):
    path = tmp_path / "copy.yaml"
    path.write_text(taxonomy_yaml(taxonomy, header="a copy\nof the default"), encoding="utf-8")
    copy = load_taxonomy(path)
    assert copy == taxonomy
    assert copy.fingerprint == taxonomy.fingerprint
    assert path.read_text(encoding="utf-8").startswith("# a copy\n# of the default\n")


# --- rule suggestions --------------------------------------------------------------------------

ENERGY = ["Gas prices rose again.", "The gas pipeline opened.", "Gas supply talks ended.",
          "Oil and gas exports grew.", "Pipelines need repairs."]
TRADE = ["The trade deal was signed.", "Trade talks ended.", "Trade barriers fell.",
         "Tariffs were cut.", "The gas station sells snacks."]
NONE = ["The weather was fine.", "The meeting ended.", "Lunch was served."]


def _suggest(taxonomy=None, **options):
    texts = ENERGY + TRADE + NONE
    themes = [["energy"]] * 5 + [["trade"]] * 5 + [[NO_THEME]] * 3
    options.setdefault("min_matches", 2)
    return suggest_rules(texts, themes, taxonomy or _bare("energy", "trade"), **options)


def test_suggest_rules_finds_the_separating_words_with_exact_figures():
    found = _suggest()
    rows = {(r.theme, r.pattern): r for r in found.table.itertuples()}
    gas = rows[("energy", "gas")]
    # gas: 4 energy sentences and the gas station one
    assert (gas.matches, gas.correct) == (5, 4)
    assert gas.precision == pytest.approx(0.8) and gas.coverage == pytest.approx(0.8)
    trade = rows[("trade", "trade")]
    assert (trade.matches, trade.correct, trade.coverage) == (3, 3, pytest.approx(0.6))
    assert found.summary.loc["trade", "labeled"] == 5
    assert set(found.table["theme"]) == {"energy", "trade"}


def test_suggested_figures_are_what_the_rules_do(tmp_path):
    """Every pattern's matches are the labeler's own matches of that pattern."""
    found = _suggest(min_precision=0.5)
    texts = ENERGY + TRADE + NONE
    for row in found.table.itertuples():
        regex = compile_pattern(row.pattern)
        assert sum(bool(regex.search(normalize_text(t))) for t in texts) == row.matches
    labeled = label_sentences(texts, found.with_rules())
    fired = {name for rules in labeled.rules_fired for name in rules}
    assert fired == {rule.name for rule in found.rules}


def test_suggest_rules_never_proposes_stop_words_or_weak_phrases():
    found = _suggest(min_precision=0.0, min_matches=1, per_theme=50)
    patterns = set(found.table["pattern"])
    assert not patterns & {"the", "was", "and", "the gas", "were"}
    assert all(found.table["correct"] >= 1)
    strict = _suggest(min_precision=1.0)
    assert (strict.table["precision"] == 1.0).all()
    assert "gas" not in set(strict.table["pattern"])


def test_suggest_rules_respects_per_theme():
    found = _suggest(min_precision=0.6, per_theme=1)
    assert found.table.groupby("theme").size().max() == 1
    assert len(_suggest(min_precision=0.6, per_theme=10).table) > len(found.table)


def test_prefix_patterns_join_the_forms_of_a_word():
    texts = ["Exports rose.", "Export credit.", "Exporting firms.", "Exporter news.",
             "Rain fell.", "Sun shone.", "Wind blew."]
    themes = [["trade"]] * 4 + [[NO_THEME]] * 3
    found = suggest_rules(texts, themes, _bare("trade"), min_matches=3)
    assert found.table["pattern"].tolist() == ["export*"]
    assert found.table["coverage"].tolist() == [1.0]


def test_suggestions_skip_what_the_taxonomy_rules_match_already():
    covered = Taxonomy((Theme("energy", "Energy", "", (Rule("e", "energy", ("gas",)),)),
                        Theme("trade", "Trade", ""), Theme(NO_THEME, "No", "")))
    found = _suggest(covered, min_precision=0.6)
    assert "gas" not in set(found.table["pattern"])
    assert found.summary.loc["energy", "rules_coverage"] == pytest.approx(0.8)
    assert found.summary.loc["energy", "rules_precision"] == pytest.approx(0.8)
    assert all(rule.name == f"{rule.theme}_suggested" for rule in found.rules)


def test_suggested_rules_paste_and_load(tmp_path):
    found = _suggest()
    snippet = yaml.safe_load(found.to_yaml())
    assert [rule["name"] for rule in snippet] == [rule.name for rule in found.rules]
    assert snippet[0]["patterns"] == list(found.rules[0].patterns)
    out = found.write_taxonomy(tmp_path / "with-rules.yaml")
    loaded = load_taxonomy(out)
    assert loaded == found.with_rules()
    text = out.read_text(encoding="utf-8")
    assert "# precision 0.80 (4 of 5), coverage 0.80" in text
    with pytest.raises(DataError, match="exists already"):
        found.write_taxonomy(out)


def test_suggested_rule_names_do_not_clash():
    taken = Taxonomy((Theme("energy", "Energy", "", (Rule("energy_suggested", "energy",
                                                         ("pipeline*",)),)),
                      Theme("trade", "Trade", ""), Theme(NO_THEME, "No", "")))
    found = _suggest(taken)
    assert "energy_suggested_2" in {rule.name for rule in found.rules}


def test_suggest_rules_handles_data_with_nothing_to_suggest():
    found = suggest_rules(["a b", "c d"], [["trade"], [NO_THEME]], _bare("trade"))
    assert found.table.empty and found.rules == []
    assert found.summary.loc["trade", "suggested"] == 0
    assert found.with_rules() == _bare("trade")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("per_theme", 0, "per_theme must be at least 1"),
    ("min_precision", 1.5, "min_precision must be between 0 and 1"),
    ("min_matches", 0, "min_matches must be at least 1"),
    ("max_words", 9, "max_words must be between 1 and 5"),
])
def test_suggest_rules_checks_its_settings(option, value, message):
    with pytest.raises(DataError, match=message):
        _suggest(**{option: value})


def test_suggest_rules_from_table_reads_names_as_labels(tmp_path):
    taxonomy_path = tmp_path / "t.yaml"
    init_taxonomy(taxonomy_path, ["Energy", "Trade"])
    rows = [(t, "Energy") for t in ENERGY] + [(t, "Trade") for t in TRADE] + \
        [(t, "none") for t in NONE]
    data = _csv(tmp_path, rows, columns=("sentence", "label"))
    found = suggest_rules_from_table(data, taxonomy_path, text_column="sentence",
                                     label_column="label", min_matches=2)
    assert found.n_sentences == 13 and found.source == str(data)
    assert ("energy", "gas") in set(zip(found.table["theme"], found.table["pattern"]))
