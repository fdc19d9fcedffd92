import numpy as np
import pytest

from policy_themes.rules.labeling import RuleMatcher, label_sentences, nonzero_rows, rows_product
from policy_themes.rules.taxonomy import load_taxonomy


@pytest.fixture
def mini(data_dir):
    return load_taxonomy(data_dir / "mini_taxonomy.yaml")


def test_vote_matrix_counts_matches_and_abstains(mini):
    matcher = RuleMatcher(mini)
    counts, first = matcher.votes(["Oil and gas, gas again.", "Nothing here.", "trade"])
    names = matcher.rule_names
    assert counts.shape == (3, len(names))
    assert counts[0, names.index("energy_words")] == 3
    assert counts[1].sum() == 0
    assert counts[2, names.index("trade_words")] == 1
    assert first[0, names.index("energy_words")] == 0


def test_matches_do_not_cross_sentence_boundaries(mini):
    result = label_sentences(["We sell natural", "gas to Europe"], mini)
    assert result.primary == ["none", "energy"]


def test_exclusion_cancels_only_overlapping_matches(mini):
    result = label_sentences(
        ["She spoke with great energy.", "With great energy she praised energy policy."], mini
    )
    assert result.themes == [["none"], ["energy"]]


def test_weights_decide_the_primary_theme(mini):
    # one energy match (weight 1) against one trade match (weight 2)
    result = label_sentences(["Energy trade doubled."], mini)
    assert result.themes == [["trade", "energy"]]
    assert result.primary == ["trade"]


def test_ties_go_to_the_theme_mentioned_first(mini):
    result = label_sentences(["Cooperation on energy.", "Energy cooperation."], mini)
    assert result.primary == ["cooperation", "energy"]


def test_regex_rule_and_hyphen_variants(mini):
    result = label_sentences(["A joint venture was formed.", "A multivector course."], mini)
    assert result.primary == ["cooperation", "cooperation"]


def test_rules_fired_and_frame(mini):
    result = label_sentences(["Oil trade.", "Silence."], mini)
    frame = result.to_frame()
    assert list(frame.columns) == ["themes", "primary", "rules"]
    assert frame.loc[0, "rules"] == "energy_words;trade_words"
    assert frame.loc[1, "themes"] == "none"
    assert result.vote_frame().shape == (2, 4)


def test_case_insensitive_and_unicode_safe(mini):
    result = label_sentences(["İstanbul hosts OIL talks.", ""], mini)
    assert result.primary == ["energy", "none"]


def test_empty_batch(mini):
    result = label_sentences([], mini)
    assert result.themes == [] and result.counts.shape == (0, 4)


def test_seed_goals_sentence_gets_at_least_eight_themes(taxonomy, seed_path):
    from policy_themes.text.sentences import split_sentences

    sentences = split_sentences(seed_path.read_text(encoding="utf-8"))
    result = label_sentences([s.text for s in sentences], taxonomy)
    goals = next(i for i, s in enumerate(sentences) if "served to the goals" in s.text)
    assert len(result.themes[goals]) >= 8
    assert result.themes[-1] == ["none"]  # "You Might Also Like"


def test_scores_are_weighted_sums(mini):
    matcher = RuleMatcher(mini)
    counts, _ = matcher.votes(["oil oil trade"])
    scores = matcher.theme_scores(counts)
    assert np.allclose(scores[0], [2, 2, 0, 0])


def test_rule_votes_of_a_normalised_batch_are_the_same(mini):
    from policy_themes.rules.matching import normalize_batch

    texts = ["Oil and GAS!", "trade, trade", ""]
    matcher = RuleMatcher(mini)
    given = matcher.vote_features(texts, 3, normalized=normalize_batch(texts)).toarray()
    np.testing.assert_array_equal(given, RuleMatcher(mini).vote_features(texts, 3).toarray())


def _sparse_values(seed: int, shape=(300, 40)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.random(shape) * rng.integers(1, 5, shape)
    values[rng.random(shape) < 0.8] = 0
    return values


def test_nonzero_rows_are_scipys_csr_arrays():
    import scipy.sparse as sp

    values = _sparse_values(0)
    values[5] = 0  # a row without any value
    indptr, indices, data = nonzero_rows(values)
    csr = sp.csr_matrix(values)
    for mine, scipys in [(indptr, csr.indptr), (indices, csr.indices), (data, csr.data)]:
        np.testing.assert_array_equal(mine, scipys)


def test_rows_product_is_scipys_bit_for_bit():
    import scipy.sparse as sp

    values, weights = _sparse_values(1), np.random.default_rng(2).normal(size=(40, 7))
    want = np.asarray(sp.csr_matrix(values) @ weights)
    assert np.array_equal(rows_product(values, weights), want)
    # rows given as CSR arrays, columns in any order and more than once (contexts' lines)
    indptr = np.array([0, 3, 3, 7])
    parts = np.array([5, 1, 5, 0, 2, 9, 4])
    ones = np.ones(len(parts))
    want = np.asarray(sp.csr_matrix((ones, parts, indptr), shape=(3, 40)) @ weights)
    got = rows_product((indptr, parts, ones), weights)
    assert np.array_equal(got, want)
