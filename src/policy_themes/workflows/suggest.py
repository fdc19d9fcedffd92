"""What to label next: rank unlabeled sentences by how much a label would teach the model.

:func:`rank_pool` picks, by default, the ``n`` sentences the model is least sure of (smallest
margin between its two most probable themes), weighted towards themes with fewer labels than
their share of the pool, among :data:`CANDIDATES` ``* n`` sentences drawn at random: the draw
keeps the picks spread over the pool as a random sample is, the weights keep the labels'
themes in step with the pool's. Chosen by simulated labeling rounds
(``benchmarks/active_learning.py``). :func:`suggest` reads a pool of sentences, predicts them
with a trained model, ranks them and writes a CSV to fill in (its ``themes`` column is empty;
``train`` reads it once filled) and a Label Studio import file with the model's guesses as
pre-annotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from policy_themes.errors import ConfigError, DataError
from policy_themes.io.jsonl_tasks import TASK_FORMATS

__all__ = ["rank_pool", "RANKINGS", "uncertainty", "theme_weights", "cluster_picks",
           "typical_picks", "sampled_uncertain", "Suggestions", "suggest", "normalised_text"]

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


@dataclass
class Suggestions:
    """What :func:`suggest` chose and wrote.

    Attributes
    ----------
    frame : DataFrame
        The chosen sentences, the most useful first: ``rank``, ``text``, an empty ``themes``
        column to fill in, the model's ``guess`` (primary theme), ``guess_themes`` and
        ``probability``, the ``uncertainty``, the context the model read (when it reads
        context) and the pool's own columns.
    pool_size : int
        Sentences in the pool.
    outputs : list of Path
        Files written.
    findings : list of DataFinding
        Rows skipped for blank text.
    excluded : int
        Pool sentences left out because they are labeled already (their normalised text is in
        the model's training data or an ``exclude`` file).
    exclude_sources : list of str
        The files the labeled sentences were read from.
    notes : list of str
        Training files the model names that could not be read (their sentences were not left
        out).
    """

    frame: pd.DataFrame
    pool_size: int
    outputs: list[Path] = field(default_factory=list)
    findings: list = field(default_factory=list)
    excluded: int = 0
    exclude_sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def suggest(
    pool: Sequence[str | Path],
    *,
    model,
    n: int = 50,
    out: str | Path | None = None,
    label_studio: str | Path | None = None,
    doccano: str | Path | None = None,
    prodigy: str | Path | None = None,
    exclude: Sequence[str | Path] = (),
    skip_training_data: bool = True,
    text_column: str = "text",
    documents: bool = False,
    doc_column: str | None = None,
    encoding: str | None = None,
    ranking: str = "sampled",
) -> Suggestions:
    """Choose the ``n`` unlabeled sentences a label would teach the model most.

    The model predicts every sentence of the pool (reading each one's context as it was
    trained to) and :func:`rank_pool` chooses the ones it is least sure of among twice ``n``
    drawn at random, themes with fewer labels than their share of the pool first. Sentences
    labeled already (in the model's training files or in ``exclude``, compared by their text
    with case, white space and Unicode forms folded) are never suggested; they still give
    their neighbours context.

    Parameters
    ----------
    pool : sequence of str or Path
        Unlabeled sentence tables (or ``.txt`` documents, or tables of documents with
        ``documents``).
    model : ThemeModel or str or Path
        A trained model or its directory.
    n : int, default=50
        How many sentences to suggest.
    out : str or Path, default=None
        Write the suggestions here (CSV, TSV, JSONL or Parquet by extension): fill in the empty
        ``themes`` column (theme ids, ``;`` between several, the primary first) and give the
        file to ``train`` beside the earlier labels. None writes nothing.
    label_studio : str or Path, default=None
        Also write a Label Studio import file (``.json``: the tasks, the model's guesses as
        pre-annotations) and its labeling config beside it (``<name>.label-config.xml``);
        ``train`` reads the JSON export of the labeled tasks.
    doccano : str or Path, default=None
        Also write a doccano import file (``.jsonl``, text classification: ``{"text", "label":
        the model's guesses, "meta"}``); ``train`` reads doccano's JSONL export.
    prodigy : str or Path, default=None
        Also write a Prodigy file for the ``choice`` interface (``.jsonl``: ``{"text",
        "options": the themes, "accept": the model's guesses, "meta"}``); ``train`` reads the
        accepted answers of ``prodigy db-out``.
    exclude : sequence of str or Path, default=()
        Labeled files (tables, Label Studio, doccano or Prodigy exports) whose sentences are
        not to be suggested, beside the model's training files.
    skip_training_data : bool, default=True
        Leave out the sentences of the training files the model names (``model.json``); those
        that no longer exist are listed in ``notes``.
    text_column, documents, doc_column, encoding
        How to read the pool, as for ``predict``.
    ranking : str, default="sampled"
        How to choose (see :func:`rank_pool`).

    Returns
    -------
    Suggestions

    Raises
    ------
    DataError
        If the pool is missing, malformed or empty, already has a ``themes`` column, every
        sentence of it is labeled already, ``n`` is below 1, an ``exclude`` file cannot be
        read, or an output cannot be written.
    ConfigError
        If ``ranking`` is not one of :data:`RANKINGS`.
    ModelError
        If the model is missing or damaged.
    """
    from policy_themes.model.theme_model import ThemeModel, load_model

    if n < 1:
        raise DataError(f"n must be at least 1, got {n}")
    if ranking not in RANKINGS:
        raise ConfigError(f"ranking must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    outputs = {"out": out, "label_studio": label_studio, "doccano": doccano,
               "prodigy": prodigy}
    _check_outputs(outputs)
    model = model if isinstance(model, ThemeModel) else load_model(model)
    labeled = _labeled_texts(model, exclude, skip_training_data, text_column=text_column,
                             encoding=encoding)
    frame, findings = _read_pool(pool, model, text_column=text_column, documents=documents,
                                 doc_column=doc_column, encoding=encoding)
    open_rows = _unlabeled_rows(frame["text"], labeled.texts, pool)
    context = model.context_for(frame, doc_column="doc_id")
    texts = frame["text"].tolist()
    _, sets, proba, _ = model.predict_arrays(texts, context)
    features = _model_features(model, texts, context) if ranking in ("typical", "clusters") \
        else None  # only the clusters read them
    counts = model.meta.get("training_data", {}).get("primary_counts") or None
    order = open_rows[rank_pool(proba[open_rows], _rows_of(features, open_rows), model.classes,
                                n, label_counts=counts, ranking=ranking)]
    chosen = _suggestion_frame(frame, order, sets, proba, model, context)
    result = Suggestions(chosen, len(frame), findings=findings,
                         excluded=len(frame) - len(open_rows), exclude_sources=labeled.sources,
                         notes=labeled.notes)
    result.outputs = _write_outputs(chosen, outputs, model)
    return result


def _write_outputs(chosen: pd.DataFrame, outputs: dict, model) -> list[Path]:
    """Write the suggestions to each output asked for, all or none of them (a full disk
    leaves no file half the set); the files written."""
    from policy_themes.io.writers import table_sink

    written = []
    with table_sink(outputs["out"]) as sink:
        if outputs["out"] is not None:
            sink.write(chosen)
            written.append(Path(outputs["out"]))
        if outputs["label_studio"] is not None:
            written.extend(_write_label_studio(chosen, Path(outputs["label_studio"]), model,
                                               sink))
        for fmt in TASK_FORMATS:
            if outputs[fmt] is not None:
                written.append(_write_jsonl_tasks(chosen, Path(outputs[fmt]), fmt, model, sink))
    return written


def _is_jsonl(path: Path) -> bool:
    """Whether ``path`` names a JSON-lines file (``.jsonl`` or ``.ndjson``)."""
    from policy_themes.io.formats import file_format

    try:
        return file_format(path) == "jsonl"
    except DataError:
        return False


def _rows_of(features, rows: np.ndarray):
    """The given rows of a feature matrix (sparse or dense; None stays None)."""
    if features is None or len(rows) == features.shape[0]:
        return features
    return features[rows]


@dataclass
class _LabeledTexts:
    """Normalised texts labeled already, the files they came from, and notes on the model's
    training files that could not be read."""

    texts: set[str]
    sources: list[str]
    notes: list[str]


def normalised_text(text: str) -> str:
    """A sentence as compared with labeled ones: Unicode compatibility forms (NFKC), case
    and runs of white space folded."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


def _labeled_texts(model, exclude, skip_training_data: bool, *, text_column: str,
                   encoding: str | None) -> _LabeledTexts:
    """The normalised texts of the ``exclude`` files and (with ``skip_training_data``) of the
    model's training files."""
    found = _LabeledTexts(set(), [], [])
    for path in map(Path, exclude):
        found.texts.update(_file_texts(path, text_column=text_column, encoding=encoding))
        found.sources.append(str(path))
    trained = model.meta.get("training_data", {}).get("files", []) if skip_training_data else []
    for name in trained:
        path = Path(name)
        try:
            found.texts.update(_file_texts(path, text_column="text", encoding=None))
        except DataError as exc:
            found.notes.append(f"training file not read, its sentences may be suggested: {exc}")
            continue
        found.sources.append(str(path))
    return found


def _file_texts(path: Path, *, text_column: str, encoding: str | None) -> set[str]:
    """The normalised texts of a labeled file (a table, or a Label Studio export)."""
    from policy_themes.io.labelstudio import is_label_studio_file, read_label_studio
    from policy_themes.io.tables import read_table

    if is_label_studio_file(path):
        texts = read_label_studio(path, text_column=text_column)[0]["text"]
    else:
        texts = read_table(path, encoding=encoding, columns=[text_column])[text_column]
    return {normalised_text(t) for t in texts.dropna() if isinstance(t, str)}


def _unlabeled_rows(texts: pd.Series, labeled: set[str], pool) -> np.ndarray:
    """Positions of the pool's sentences that are not labeled already.

    Raises
    ------
    DataError
        If every one is.
    """
    if not labeled:
        return np.arange(len(texts))
    rows = np.flatnonzero([normalised_text(t) not in labeled for t in texts])
    if not len(rows):
        raise DataError(f"{', '.join(map(str, pool))}: every sentence of the pool is labeled "
                        "already (in the model's training data or --exclude)")
    return rows


def _check_outputs(outputs: dict) -> None:
    """Refuse, before any work, outputs that cannot be written or name one file twice."""
    from policy_themes.io.labelstudio import is_label_studio_file
    from policy_themes.io.writers import AtomicTableWriter, check_writable

    given = {k: Path(v) for k, v in outputs.items() if v is not None}
    for path in given.values():
        check_writable(path)
    if "out" in given:
        AtomicTableWriter(given["out"])  # refuses an extension it cannot write
    if "label_studio" in given and not is_label_studio_file(given["label_studio"]):
        raise DataError(f"{given['label_studio']}: a Label Studio import file is .json")
    for fmt in TASK_FORMATS:
        if fmt in given and not _is_jsonl(given[fmt]):
            raise DataError(f"{given[fmt]}: a {fmt} file is .jsonl")
    resolved = [p.resolve() for p in given.values()]
    if len(set(resolved)) < len(resolved):
        raise DataError("two outputs name the same file: give each its own name")


def _read_pool(pool, model, *, text_column, documents, doc_column, encoding):
    """The pool's sentences as one frame (``doc_id``, ``text``, the tables' columns), with the
    finding of rows skipped for blank text."""
    from policy_themes.io.labels import blank_rows_finding
    from policy_themes.io.sentence_frames import iter_sentence_frames
    from policy_themes.io.tables import THEME_COL, THEMES_COL

    skipped: dict[str, list[int]] = {}
    frames = list(iter_sentence_frames(
        [Path(p) for p in pool], text_column=text_column, documents=documents,
        doc_column=doc_column, document_columns=model.context_settings.document_columns,
        encoding=encoding,
        on_skip=lambda source, rows: skipped.setdefault(source, []).extend(rows)))
    if not frames:
        raise DataError(f"{', '.join(map(str, pool))}: no sentences to suggest from")
    frame = pd.concat(frames, ignore_index=False) if len(frames) > 1 else frames[0]
    frame = frame.rename_axis("row").reset_index()
    labeled = [c for c in (THEMES_COL, THEME_COL) if c in frame.columns]
    if labeled:
        raise DataError(f"the pool has a '{labeled[0]}' column: suggest ranks unlabeled "
                        "sentences; drop or rename the column")
    blank = blank_rows_finding(skipped)
    return frame, [blank] if blank else []


def _model_features(model, texts: list[str], context):
    """The model's feature matrix of the texts (its array form when it has one)."""
    if model.array_model is not None:
        return model.array_model.features(texts, context)
    from policy_themes.model.classifier import make_frame

    return model.pipeline[:-1].transform(make_frame(texts, context))


def _suggestion_frame(frame: pd.DataFrame, order: np.ndarray, sets, proba: np.ndarray, model,
                      context) -> pd.DataFrame:
    """The chosen rows: what to fill in and the model's guess first, the pool's columns after."""
    from policy_themes.io.writers import free_names

    classes = np.asarray(model.classes, dtype=object)
    picked = frame.iloc[order].reset_index(drop=True)
    best = proba[order].argmax(axis=1)
    own = {"rank": np.arange(1, len(order) + 1), "text": picked["text"].tolist(),
           "themes": [""] * len(order), "guess": classes[best].tolist(),
           "guess_themes": [";".join(sets[i]) for i in order],
           "probability": np.round(proba[order].max(axis=1), 4),
           "uncertainty": np.round(uncertainty(proba[order]), 4)}
    own.update(_context_columns(frame, order, model, context))
    rest = picked.drop(columns=["text"])
    names = free_names(rest.columns, [k for k in own if k not in ("text", "themes")],
                       "suggest_")
    chosen = pd.concat([pd.DataFrame({names.get(k, k): v for k, v in own.items()}), rest],
                       axis=1)
    chosen.attrs["names"] = {k: names.get(k, k) for k in own}  # the pool may have a 'guess'
    return chosen


def _context_columns(frame: pd.DataFrame, order: np.ndarray, model, context) -> dict:
    """The context the model read for each chosen row, in the model's two context columns
    (``context_before`` and ``context_after`` by default), so that training on the filled-in
    file reads the same context; nothing when the model reads no context or the pool has
    those columns already."""
    if context is None:
        return {}
    settings = model.context_settings
    names = tuple(settings.columns) if len(settings.columns) == 2 else \
        ("context_before", "context_after")
    if all(name in frame.columns for name in names):
        return {}
    before, after = _split_context(frame, order, settings.window)
    return {names[0]: before, names[1]: after}


def _split_context(frame: pd.DataFrame, order: np.ndarray, window: int
                   ) -> tuple[list[str], list[str]]:
    """The neighbours before and after each chosen row within its document."""
    from policy_themes.features.context import neighbour_rows
    from policy_themes.text.lines import SEPARATOR

    texts = frame["text"].tolist()
    indptr, rows = neighbour_rows(frame["doc_id"].tolist(), window)
    before, after = [], []
    for i in order.tolist():
        near = rows[indptr[i]:indptr[i + 1]].tolist()
        before.append(SEPARATOR.join(texts[r] for r in near if r < i))
        after.append(SEPARATOR.join(texts[r] for r in near if r > i))
    return before, after


def _write_label_studio(chosen: pd.DataFrame, path: Path, model, sink) -> list[Path]:
    """The tasks (``.json``) and the labeling config beside them."""
    import json

    from policy_themes.io.labelstudio import label_studio_config, label_studio_tasks

    names = chosen.attrs.get("names", {})
    guess = [names.get(k, k) for k in ("guess", "guess_themes", "probability")]
    context = [names.get(c, c) for c in ("context_before", "context_after")]
    context = list(dict.fromkeys(c for c in (*context, *model.context_settings.columns)
                                 if c in chosen.columns))
    columns = [c for c in ("text", *guess, "row", "doc_id", *context) if c in chosen.columns]
    tasks = label_studio_tasks(chosen[columns], model_version=model.name,
                               primary_column=guess[0], themes_column=guess[1],
                               score_column=guess[2])
    config = path.with_name(path.name.split(".")[0] + ".label-config.xml")
    sink.add_text(path, json.dumps(tasks, ensure_ascii=False, indent=1))
    sink.add_text(config, label_studio_config(model.taxonomy(), context_columns=context))
    return [path, config]


def _write_jsonl_tasks(chosen: pd.DataFrame, path: Path, fmt: str, model, sink) -> Path:
    """The doccano or Prodigy tasks, one JSON object a line."""
    import json

    from policy_themes.io.jsonl_tasks import jsonl_tasks

    names = chosen.attrs.get("names", {})
    own = {names.get(k, k) for k in ("text", "themes", "guess_themes")}
    meta = [c for c in chosen.columns if c not in own]
    tasks = jsonl_tasks(chosen, fmt, taxonomy=model.taxonomy(),
                        themes_column=names.get("guess_themes", "guess_themes"),
                        meta_columns=meta)
    sink.add_text(path, "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tasks))
    return path
