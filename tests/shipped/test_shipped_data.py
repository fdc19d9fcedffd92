"""The shipped training data meets its datasheet: columns, counts, variety, no near-duplicates."""

import pandas as pd
import pytest

from policy_themes.io.labels import parse_themes
from policy_themes.resources import resource_path
from policy_themes.rules.labeling import label_sentences

COLUMNS = ["text", "themes", "doc_id", "register", "speaker"]


@pytest.fixture(scope="module")
def shipped():
    return pd.read_csv(resource_path("data/labeled/sentences.csv"), dtype=str,
                       keep_default_na=False)


@pytest.fixture(scope="module")
def gold(shipped, taxonomy):
    return parse_themes(shipped["themes"], taxonomy, source="sentences.csv")


def test_columns_and_no_empty_cells(shipped):
    assert list(shipped.columns) == COLUMNS
    assert (shipped.apply(lambda c: c.str.strip() == "")).sum().sum() == 0


def test_size_and_theme_counts(shipped, gold, taxonomy):
    assert len(shipped) >= 2500
    primary = pd.Series([g[0] for g in gold]).value_counts()
    for theme in taxonomy.theme_ids:
        assert primary.get(theme, 0) >= 150, theme
    assert primary["none"] >= 300
    assert all(g == ["none"] or "none" not in g for g in gold)


def test_multi_theme_share(gold):
    assert sum(len(g) > 1 for g in gold) / len(gold) >= 0.25


def test_documents_registers_and_speakers(shipped):
    sizes = shipped.groupby("doc_id").size()
    assert sizes.between(5, 20).all()
    # a document's sentences are consecutive rows with one register and one speaker
    runs = (shipped["doc_id"] != shipped["doc_id"].shift()).sum()
    assert runs == shipped["doc_id"].nunique()
    assert (shipped.groupby("doc_id")[["register", "speaker"]].nunique() == 1).all().all()
    assert shipped["register"].nunique() >= 5
    assert shipped["speaker"].nunique() >= 40


def test_no_near_duplicates(shipped):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectors = TfidfVectorizer().fit_transform(shipped["text"])
    similarity = (vectors @ vectors.T).tocoo()
    upper = similarity.row < similarity.col
    assert not (similarity.data[upper] >= 0.8).any()


def test_data_does_not_mirror_the_rules(shipped, gold, taxonomy):
    result = label_sentences(shipped["text"].tolist(), taxonomy)
    pairs = sum(len([t for t in g if t != "none"]) for g in gold)
    found = sum(len(set(r) & set(g) - {"none"}) for r, g in zip(result.themes, gold))
    assert found / pairs <= 0.70
    for theme in taxonomy.theme_ids:
        rows = [i for i, g in enumerate(gold) if theme in g]
        without = sum(theme not in result.themes[i] for i in rows)
        assert without / len(rows) >= 1 / 3, theme
