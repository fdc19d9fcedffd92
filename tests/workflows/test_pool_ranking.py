"""The rankings of what to label next (pool_ranking.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from policy_themes.workflows.pool_ranking import (
    cluster_picks,
    rank_pool,
    sampled_uncertain,
    theme_weights,
    typical_picks,
    uncertainty,
)


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
    order = rank_pool(proba, features, ["a", "b", "c", "d"], 20, ranking="clusters")
    assert len(set(order.tolist())) == 20
    assert order[0] == np.argmax(uncertainty(proba))
    naive = rank_pool(proba, features, ["a", "b", "c", "d"], 20, ranking="margin")
    assert naive.tolist() == np.argsort(-uncertainty(proba))[:20].tolist()
    for ranking in ("sampled", "typical", "clusters", "margin"):
        assert sorted(set(rank_pool(proba, features, list("abcd"), 500,
                                    ranking=ranking).tolist())) == list(range(200))
    with pytest.raises(ValueError, match="ranking"):
        rank_pool(proba, features, list("abcd"), 5, ranking="best")


def test_typical_picks_take_the_centre_of_each_group_largest_group_first():
    rng = np.random.default_rng(2)
    # three groups (20, 12 and 6 rows) around three directions, each with one central row
    sizes = [20, 12, 6]
    rows, centres = [], []
    for group, size in enumerate(sizes):
        direction = np.eye(3)[group] * 5
        noise = rng.normal(scale=0.6, size=(size, 3))
        noise -= noise.mean(axis=0)
        noise[0] = 0.0  # the group's centre itself
        centres.append(sum(sizes[:group]))
        rows.append(direction + noise)
    features = sp.csr_matrix(np.vstack(rows))
    assert typical_picks(features, 3).tolist() == centres


def test_sampled_uncertain_is_the_most_uncertain_of_a_random_draw():
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(3), size=100)
    picks = sampled_uncertain(proba, 10, seed=4)
    drawn = np.random.default_rng(4).choice(100, 20, replace=False)
    assert sorted(picks.tolist()) == sorted(drawn[np.argsort(-uncertainty(proba[drawn]))[:10]])
    assert uncertainty(proba[picks]).tolist() == sorted(uncertainty(proba[picks]), reverse=True)
    # not simply the pool's most uncertain: some of those were never drawn
    assert set(picks.tolist()) != set(np.argsort(-uncertainty(proba))[:10].tolist())
    # weights multiply the uncertainty: the most uncertain, weighted 0, is not picked
    weights = np.ones(100)
    weights[picks[0]] = 0.0
    assert picks[0] not in sampled_uncertain(proba, 10, weights=weights, seed=4)


def test_sampled_ranking_favours_themes_short_of_labels_for_their_pool_share():
    # half the pool looks like a, half like b, all equally uncertain; a has 90 labels, b 10
    proba = np.array([[0.6, 0.4]] * 50 + [[0.4, 0.6]] * 50)
    features = sp.csr_matrix(np.ones((100, 2)))
    picks = rank_pool(proba, features, ["a", "b"], 20, label_counts={"a": 90, "b": 10},
                      seed=1)
    assert (picks >= 50).sum() >= 15
    picks = rank_pool(proba, features, ["a", "b"], 20, label_counts={"a": 10, "b": 90},
                      seed=1)
    assert (picks < 50).sum() >= 15
