"""Rank a pool of unlabeled sentences by how much a label would teach the model.

The rankings of :func:`rank_pool` (``policy-themes suggest``): by default the ``n`` sentences the
model is least sure of (smallest margin between its two most probable themes), weighted towards
themes with fewer labels than their share of the pool, among :data:`CANDIDATES` ``* n``
sentences drawn at random; or the most central sentence of each cluster, the best of each
cluster, or the most uncertain alone. Chosen by simulated labeling rounds
(``benchmarks/active_learning.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["rank_pool", "RANKINGS", "CANDIDATES", "uncertainty", "theme_weights",
           "cluster_picks", "typical_picks", "sampled_uncertain"]

#: Columns of the count sketch of the features, and the main directions of it clustered.
SKETCH_DIMENSIONS = 256
COMPONENTS = 32
#: ``sampled`` picks the most uncertain of this many times ``n`` random sentences.
CANDIDATES = 2
#: How :func:`rank_pool` can rank: ``sampled`` (the default), ``typical`` (the most central
#: sentence of each cluster), ``clusters`` (the best of each cluster by uncertainty times
#: theme weight, the default before) and ``margin`` (the most uncertain, nothing else).
RANKINGS = ("sampled", "typical", "clusters", "margin")


def uncertainty(proba: np.ndarray) -> np.ndarray:
    """One minus the margin between the two most probable classes of each row (1: a tie,
    0: certain)."""
    if proba.shape[1] < 2:
        return np.zeros(len(proba))
    top = np.partition(proba, -2, axis=1)[:, -2:]
    return 1.0 - np.abs(top[:, 1] - top[:, 0])


def theme_weights(proba: np.ndarray, classes: Sequence[str],
                  label_counts: Mapping[str, int] | None, *, power: float = 0.5,
                  relative: bool = False) -> np.ndarray:
    """Each row's weight by how few labels its predicted theme has: ``(count + 1) ** -power``.

    With ``relative`` a theme's labels are set against its share of the pool (the mean
    predicted probability) instead: ``((expected + 1) / (count + 1)) ** power``, where
    ``expected`` is the theme's pool share times the labels so far. Scaled so the largest
    weight is 1; all 1 when no counts are known.
    """
    if not label_counts or not len(proba):
        return np.ones(len(proba))
    counts = np.array([label_counts.get(str(c), 0) for c in classes], dtype=float)
    if relative:
        expected = proba.mean(axis=0) * counts.sum()
        per_class = ((expected + 1.0) / (counts + 1.0)) ** power
    else:
        per_class = (counts + 1.0) ** -power
    weights = per_class[np.argmax(proba, axis=1)]
    return weights / weights.max()


def cluster_picks(scores: np.ndarray, features, n: int, *, seed: int = 0,
                  dimensions: int = SKETCH_DIMENSIONS, components: int = COMPONENTS,
                  iterations: int = 10) -> np.ndarray:
    """Split the pool into ``n`` clusters of similar rows and take each cluster's best row.

    The clusters are spherical k-means (cosine similarity, k-means++ start) on the
    ``components`` main directions (an SVD, as latent semantic analysis) of a count sketch of
    the unit-length features (each feature added, with a random sign, to one of ``dimensions``
    columns, which keeps dot products on average), so the picks spread over the topics of the
    whole pool as a random sample would, and each is the most informative of its
    neighbourhood; no two picks are near-copies unless the pool is.

    Parameters
    ----------
    scores : ndarray of shape (n_rows,)
        How informative each row is (higher: more).
    features : sparse matrix or ndarray of shape (n_rows, n_features)
        The rows' features.
    n : int
        How many to pick.
    seed : int, default=0
        Seed of the sketch and of the k-means start.

    Returns
    -------
    ndarray of int
        Row indices, the best score first.
    """
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=int)
    _, labels = _clusters(features, n, seed=seed, dimensions=dimensions,
                          components=components, iterations=iterations)
    picked = _best_of_each(labels, n, scores)
    return picked[np.argsort(-scores[picked], kind="stable")]


def typical_picks(features, n: int, *, seed: int = 0) -> np.ndarray:
    """The most typical row of each of ``n`` clusters of similar rows, largest cluster first.

    The clusters are those of :func:`cluster_picks`; a row's typicality is its cosine
    similarity to its cluster's centre. Labels for such rows teach a model with few labels
    more than its uncertain rows do: they cover what the pool is mostly about (the cold-start
    choice of TypiClust, Hacohen et al. 2022, "Active learning on a budget").

    Parameters
    ----------
    features : sparse matrix or ndarray of shape (n_rows, n_features)
        The rows' features.
    n : int
        How many to pick.
    seed : int, default=0
        Seed of the sketch and of the k-means start.

    Returns
    -------
    ndarray of int
        Row indices, the one of the largest cluster first.
    """
    n = min(n, features.shape[0])
    if n <= 0:
        return np.zeros(0, dtype=int)
    points, labels = _clusters(features, n, seed=seed)
    centres = np.zeros((n, points.shape[1]))
    np.add.at(centres, labels, points)
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    typicality = np.einsum("ij,ij->i", points, centres[labels])
    picked = _best_of_each(labels, n, typicality)
    sizes = np.bincount(labels, minlength=n)[labels[picked]]
    return picked[np.argsort(-sizes, kind="stable")]


def sampled_uncertain(proba: np.ndarray, n: int, *, weights: np.ndarray | None = None,
                      candidates: float = CANDIDATES, seed: int = 0) -> np.ndarray:
    """The ``n`` most uncertain of ``candidates * n`` rows drawn at random.

    Unlike the ``n`` most uncertain of the whole pool, which crowd where the model hesitates
    (and, on a skewed pool, under-label its common themes), these spread over the pool as a
    random sample does and are still the harder half of it (after Ertekin et al. 2007,
    "Learning on the border", who pick among a small random sample).

    Parameters
    ----------
    proba : ndarray of shape (n_rows, n_classes)
        The model's probabilities.
    n : int
        How many to pick.
    weights : ndarray of shape (n_rows,), default=None
        Each row's weight (e.g. :func:`theme_weights`); the uncertainty is multiplied by it.
    candidates : float, default=CANDIDATES
        How many rows, in multiples of ``n``, to draw before picking.
    seed : int, default=0
        Seed of the draw.

    Returns
    -------
    ndarray of int
        Row indices, the highest weighted uncertainty first.
    """
    rows = len(proba)
    drawn = np.random.default_rng(seed).choice(rows, min(rows, int(candidates * n)),
                                               replace=False)
    scores = uncertainty(proba[drawn])
    if weights is not None:
        scores = scores * weights[drawn]
    return drawn[np.argsort(-scores, kind="stable")[:n]]


def _clusters(features, n: int, *, seed: int, dimensions: int = SKETCH_DIMENSIONS,
              components: int = COMPONENTS, iterations: int = 10
              ) -> tuple[np.ndarray, np.ndarray]:
    """The unit-length reduced rows and each one's cluster (of ``n``)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    points = _unit_rows(_principal(_sketch(_unit_rows(features), dimensions, rng), components))
    with threadpool_limits(1, user_api="blas"):  # small products: threads only wait (2x)
        labels = _spherical_kmeans(points, n, iterations, rng)
    return points, labels


def _best_of_each(labels: np.ndarray, n: int, scores: np.ndarray) -> np.ndarray:
    """The best-scoring row of each cluster; for empty clusters, the best rows not picked."""
    picked = [members[np.argmax(scores[members])]
              for members in (np.flatnonzero(labels == c) for c in range(n)) if len(members)]
    if len(picked) < n:
        rest = np.setdiff1d(np.argsort(-scores, kind="stable"), picked, assume_unique=True)
        picked += rest[: n - len(picked)].tolist()
    return np.array(picked, dtype=int)


def _sketch(X, dimensions: int, rng: np.random.Generator) -> np.ndarray:
    """A count sketch of the rows of ``X``: dense, ``dimensions`` columns."""
    if X.shape[1] <= dimensions:
        return X.toarray() if sp.issparse(X) else np.asarray(X)
    columns = rng.integers(dimensions, size=X.shape[1])
    signs = rng.choice([-1.0, 1.0], size=X.shape[1])
    sketch = sp.csr_matrix((signs, (np.arange(X.shape[1]), columns)),
                           shape=(X.shape[1], dimensions))
    product = X @ sketch
    return product.toarray() if sp.issparse(product) else np.asarray(product)


def _principal(points: np.ndarray, components: int) -> np.ndarray:
    """The rows projected on their ``components`` main directions (uncentred SVD)."""
    if points.shape[1] <= components:
        return points
    _, _, directions = np.linalg.svd(points, full_matrices=False)
    return points @ directions[:components].T


def _spherical_kmeans(points: np.ndarray, k: int, iterations: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Cluster unit-length rows by cosine similarity; each row's cluster."""
    centres = _kmeans_plus_plus(points, k, rng)
    labels = np.zeros(len(points), dtype=int)
    for _ in range(iterations):
        new = np.argmax(points @ centres.T, axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        members = sp.csr_matrix((np.ones(len(points)), (labels, np.arange(len(points)))),
                                shape=(k, len(points)))
        sums = members @ points
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centres = np.where(norms > 0, sums / np.where(norms > 0, norms, 1.0), centres)
    return labels


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ start: each centre drawn with probability proportional to its squared
    distance from the nearest centre drawn before."""
    chosen = [int(rng.integers(len(points)))]
    distance = np.maximum(2.0 - 2.0 * points @ points[chosen[0]], 0.0)
    for _ in range(1, k):
        cumulative = np.cumsum(distance)
        nxt = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")) \
            if cumulative[-1] > 0 else int(rng.integers(len(points)))
        nxt = min(nxt, len(points) - 1)
        chosen.append(nxt)
        distance = np.minimum(distance, np.maximum(2.0 - 2.0 * points @ points[nxt], 0.0))
    return points[chosen].copy()


def _unit_rows(X):
    """``X`` with each row scaled to unit length (all-zero rows stay zero)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        return sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ X
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def rank_pool(proba: np.ndarray, features, classes: Sequence[str], n: int, *,
              label_counts: Mapping[str, int] | None = None, ranking: str = "sampled",
              power: float = 0.5, relative: bool = False, seed: int = 0) -> np.ndarray:
    """Choose the ``n`` pool rows a label would teach the model most, in order.

    Parameters
    ----------
    proba : ndarray of shape (n_rows, n_classes)
        The model's primary-theme probabilities for the pool.
    features : sparse matrix of shape (n_rows, n_features) or None
        The model's features of the pool (read by ``typical`` and ``clusters`` only).
    classes : sequence of str
        Column ids of ``proba``.
    n : int
        How many rows to choose.
    label_counts : mapping of str to int, default=None
        Labeled sentences per primary theme (the model's training data); themes with few
        labels weigh more. None weighs all alike.
    ranking : {"sampled", "typical", "clusters", "margin"}, default="sampled"
        ``sampled``: :func:`sampled_uncertain`, the uncertainty weighted by
        :func:`theme_weights` relative to the pool's share (``relative=True, power=1``).
        ``typical``: :func:`typical_picks`. ``clusters``: the best of each cluster
        (:func:`cluster_picks`) by :func:`uncertainty` times :func:`theme_weights` (with
        ``power`` and ``relative``). ``margin``: the ``n`` most uncertain.
    power, relative
        How the label counts weigh in ``clusters`` (see :func:`theme_weights`).
    seed : int, default=0
        Seed of the clusters and of the random draw.

    Returns
    -------
    ndarray of int
        Row indices, the most useful first.

    Raises
    ------
    ValueError
        If ``ranking`` is not one of :data:`RANKINGS`.
    """
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    if ranking == "typical":
        return typical_picks(features, n, seed=seed)
    if ranking == "sampled":
        weights = theme_weights(proba, classes, label_counts, power=1.0, relative=True)
        return sampled_uncertain(proba, n, weights=weights, seed=seed)
    if ranking == "margin":
        return np.argsort(-uncertainty(proba), kind="stable")[:n]
    scores = uncertainty(proba) * theme_weights(proba, classes, label_counts, power=power,
                                                relative=relative)
    return cluster_picks(scores, features, n, seed=seed)
