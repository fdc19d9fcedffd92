"""The real UN General Debate sentences meet their datasheet: ids, provenance, counts, context,
agreement, and no near-duplicates (of each other, or of the evaluation set's sentences)."""

import numpy as np
import pandas as pd
import pytest

from policy_themes.io.labels import parse_themes
from policy_themes.resources import resource_path

COLUMNS = ["id", "text", "themes", "doc_id", "iso3", "year", "region", "sentence",
           "context_before", "context_after", "draw"]


@pytest.fixture(scope="module")
def ungdc():
    return pd.read_csv(resource_path("data/labeled/ungdc.csv"), keep_default_na=False)


@pytest.fixture(scope="module")
def agreement():
    return pd.read_csv(resource_path("data/labeled/ungdc-agreement.csv"), keep_default_na=False)


@pytest.fixture(scope="module")
def gold(ungdc, taxonomy):
    return parse_themes(ungdc["themes"], taxonomy, source="ungdc.csv")


def test_columns_ids_and_provenance(ungdc):
    assert list(ungdc.columns) == COLUMNS
    assert ungdc["id"].is_unique
    assert (ungdc[["text", "themes", "doc_id", "iso3"]].apply(lambda c: c.str.strip() == "")
            ).sum().sum() == 0
    # a speech is its country and year; its sentences are in speech order
    assert (ungdc["doc_id"] == ungdc["iso3"] + "_" + ungdc["year"].astype(str)).all()
    assert ungdc.groupby("doc_id")["sentence"].apply(lambda s: s.is_monotonic_increasing).all()
    assert not ungdc.duplicated(["doc_id", "sentence"]).any()
    assert set(ungdc["draw"]) == {"random", "model", "keywords"}


def test_counts_stand_for_the_archive(ungdc, gold, taxonomy):
    assert len(ungdc) >= 3000
    primary = pd.Series([g[0] for g in gold]).value_counts()
    for theme in taxonomy.theme_ids:
        assert primary.get(theme, 0) >= 100, theme
    assert primary["none"] >= 300
    assert ungdc.groupby("doc_id").size().max() <= 30
    assert set(range(1960, 2030, 10)) <= set(ungdc["year"] // 10 * 10)
    assert set(ungdc["region"]) == {"Africa", "Americas", "Asia", "Europe", "Oceania"}
    assert all(g == ["none"] or "none" not in g for g in gold)


def test_context_is_the_speech_around_the_sentence(ungdc):
    # two sentences each side, newline between them; the first sentence of a speech has none
    before = ungdc["context_before"].str.count("\n") + (ungdc["context_before"] != "")
    after = ungdc["context_after"].str.count("\n") + (ungdc["context_after"] != "")
    assert before.between(0, 2).all() and after.between(0, 2).all()
    assert (before == np.minimum(ungdc["sentence"], 2)).all()
    assert (after > 0).mean() > 0.95


def test_agreement_rows_and_kappa(ungdc, agreement):
    from sklearn.metrics import cohen_kappa_score

    assert len(agreement) >= 300
    assert set(agreement["id"]) <= set(ungdc["id"])
    final = dict(zip(ungdc["id"], ungdc["themes"]))
    assert (agreement["final"] == agreement["id"].map(final)).all()
    first = agreement["first"].str.split(";").str[0]
    second = agreement["second"].str.split(";").str[0]
    assert cohen_kappa_score(first, second) >= 0.7
    disagreed = agreement["first"] != agreement["second"]
    assert (agreement.loc[disagreed, "rule"] != "").all()


def _near(texts, others=()):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectors = TfidfVectorizer().fit(list(texts) + list(others))
    own = vectors.transform(texts)
    similarity = (own @ (vectors.transform(others) if len(others) else own).T).tocoo()
    keep = similarity.row < similarity.col if not len(others) else slice(None)
    return (similarity.data[keep] >= 0.8).any()


def test_no_near_duplicates(ungdc):
    assert not _near(ungdc["text"].tolist())


def test_no_sentence_of_the_evaluation_set(ungdc, shared):
    dev = pd.read_csv(shared("eval/real-dev.csv"))
    assert not _near(ungdc["text"].tolist(), dev["text"].astype(str).tolist())
