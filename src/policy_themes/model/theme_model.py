"""A trained model, loaded for prediction: :class:`ThemeModel` and :func:`load_model`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.errors import ModelError
from policy_themes.model.decisions import set_members
from policy_themes.rules.taxonomy import THEME_SEP, Taxonomy

__all__ = ["ThemeModel", "load_model", "format_top_k", "top_k_cells", "top_k_cell_array",
           "member_cell_array", "member_pairs", "PREDICTION_COLUMNS", "PROBABILITY_DECIMALS"]

PREDICTION_COLUMNS = ["text", "primary", "probability", "themes", "theme_probabilities", "top_k"]
# the precision of every probability predict writes (CSV, TSV, JSONL, Parquet, the table)
PROBABILITY_DECIMALS = 4


class ThemeModel:
    """A fitted pipeline with its metadata.

    Parameters
    ----------
    pipeline : Pipeline or None
        Features (``features``) and a ``ThemeClassifier`` (``clf``); None loads it from ``path``
        when it is first needed (a model with ``array_model`` predicts without it).
    meta : dict
        The content of ``model.json``.
    path : Path, default=None
        Where the model was loaded from.
    array_model : ArrayModel, default=None
        The pipeline as arrays (``model.npz``): predictions come from it, without scikit-learn.
    trust_pickle : bool, default=False
        Whether the pipeline may be read from ``model.joblib`` (a pickle, which can run code)
        when it is needed (:meth:`explain`); otherwise that raises a ``ModelError``.
    """

    def __init__(self, pipeline, meta: dict, path: Path | None = None, array_model=None, *,
                 trust_pickle: bool = False):
        if pipeline is None and (array_model is None or path is None):
            raise ValueError("ThemeModel needs a pipeline, or an array model and its path")
        self._pipeline = pipeline
        self.meta = meta
        self.path = path
        self.array_model = array_model
        self.trust_pickle = trust_pickle

    def __getstate__(self):
        state = self.__dict__.copy()
        if self.array_model is not None:  # it predicts from the arrays: the pipeline stays here
            state["_pipeline"] = None
        return state

    def portable(self) -> ThemeModel:
        """This model with everything it predicts with inside it when pickled, for processes
        that cannot read its directory (Dask workers on other machines)."""
        array_model = self.array_model.embedded() if self.array_model is not None else None
        return ThemeModel(self._pipeline, self.meta, self.path, array_model=array_model)

    @property
    def pipeline(self):
        """The scikit-learn pipeline, loaded on first use: from the ``.skops`` file of a shared
        model, or from ``model.joblib`` when the model was loaded with ``trust_pickle``.

        Raises
        ------
        ModelError
            For a model directory loaded without ``trust_pickle``: its pipeline is a pickle.
        """
        if self._pipeline is None:
            from policy_themes.model.sharing import load_skops, skops_model_file
            from policy_themes.model.store import MODEL_FILE, load_pipeline

            shared = skops_model_file(self.path) if self.path is not None else None
            if shared is not None:
                self._pipeline, _ = load_skops(shared)
            elif not self.trust_pickle:
                raise ModelError(
                    f"{self.path}: this needs the model's scikit-learn pipeline, {MODEL_FILE}, a "
                    "pickle (loading one can run code), which is read only from a model "
                    "directory named explicitly: --model-dir with the command, "
                    "load_model(path, trust_pickle=True) in Python")
            else:
                self._pipeline, _ = load_pipeline(self.path)
        return self._pipeline

    @property
    def name(self) -> str:
        """The model's name (its directory name)."""
        return str(self.meta.get("name") or (self.path.name if self.path else "model"))

    def taxonomy(self) -> Taxonomy:
        """The taxonomy the model was trained with (from its rule features, else the default).

        Raises
        ------
        ModelError
            If the model has no rule features and its ids differ from the default taxonomy.
        """
        from policy_themes.rules.taxonomy import load_taxonomy

        if self.array_model is not None:  # what the pipeline's rule blocks hold, if any
            own = self.array_model.taxonomy
        else:
            own = _model_taxonomy(self.pipeline.named_steps["features"])
        if own is not None:
            return own
        default = load_taxonomy()
        if default.ids != self.taxonomy_ids:
            raise ModelError(f"{self.path or self.name}: pass the taxonomy the model was trained "
                             "with (--taxonomy)")
        return default

    def majority_theme(self) -> str | None:
        """The most frequent primary theme of the training data, if recorded."""
        counts = self.meta.get("training_data", {}).get("primary_counts") or {}
        return max(counts, key=lambda k: (counts[k], k)) if counts else None

    @property
    def classes(self) -> list[str]:
        """Class ids of the primary probabilities, ``none`` included."""
        if self.array_model is not None:
            return list(self.array_model.classes)
        return list(self.pipeline.named_steps["clf"].classes_)

    @property
    def thresholds(self) -> dict[str, float]:
        """Membership threshold per theme."""
        if self.array_model is not None:
            return dict(self.array_model.thresholds)
        return dict(self.pipeline.named_steps["clf"].thresholds or {})

    @property
    def taxonomy_ids(self) -> list[str]:
        """Theme ids of the taxonomy the model was trained with."""
        return list(self.meta.get("taxonomy", {}).get("ids", self.classes))

    def check_taxonomy(self, taxonomy: Taxonomy) -> None:
        """Refuse a taxonomy whose theme ids differ from the model's.

        Raises
        ------
        ModelError
            If the ids differ; the message names the themes on each side.
        """
        ours, theirs = self.taxonomy_ids, taxonomy.ids
        if ours != theirs:
            only_model = sorted(set(ours) - set(theirs))
            only_taxonomy = sorted(set(theirs) - set(ours))
            where = f" at {self.path}" if self.path else ""
            raise ModelError(
                f"the model{where} was built for another taxonomy "
                f"(only in the model: {', '.join(only_model) or '-'}; only in "
                f"{taxonomy.source or taxonomy.name}: {', '.join(only_taxonomy) or '-'}); "
                "retrain it with this taxonomy"
            )

    @property
    def uses_context(self) -> bool:
        """Whether the model reads a sentence's context (its neighbours in the document)."""
        features = self.meta.get("config", {}).get("features", {})
        from policy_themes.config import CONTEXT_FEATURES

        return any(features.get(name) for name in CONTEXT_FEATURES)

    @property
    def context_settings(self):
        """Where the model's training took context from (a ``ContextConfig``)."""
        from policy_themes.config import context_config

        return context_config(self.meta.get("config", {}).get("context"), "model.json")

    def context_for(self, frame: pd.DataFrame, *, doc_column: str | None = None
                    ) -> list[str] | None:
        """The context of a sentence table's rows as the model was trained to read it.

        The table's context columns, else the neighbouring rows of each row's document: the
        column ``doc_column``, else the first of the model's ``context.document_columns`` the
        table has (see :func:`find_document_column`). None for a model
        without context features.
        """
        from policy_themes.features.context import frame_context

        if not self.uses_context:
            return None
        return frame_context(frame, self.context_settings, doc_column=doc_column)

    def context_note(self, columns, source: str, *, doc_column: str | None = None
                     ) -> str | None:
        """One line saying the context is off, when the model reads context and a table with
        ``columns`` gives it none (no context columns, no document column); else None."""
        from policy_themes.features.context import context_source

        if not self.uses_context or context_source(columns, self.context_settings,
                                                   doc_column=doc_column) is not None:
            return None
        candidates = ", ".join(self.context_settings.document_columns)
        return (f"{source}: no document column ({candidates}): each sentence is read without "
                "its neighbours, so the model's context features are off; name the column that "
                "says which document a sentence is from with --doc-column")

    def predict_arrays(self, texts: Sequence[str], context: Sequence[str] | None = None):
        """Primary themes, theme sets, primary probabilities and membership probabilities."""
        if self.array_model is not None:
            return self.array_model.predict_themes(texts, context)
        from policy_themes.model.classifier import make_frame

        features = self.pipeline[:-1].transform(make_frame(texts, context))
        return self.pipeline.named_steps["clf"].predict_themes(features)

    def predict(self, texts: Sequence[str], *, context: Sequence[str] | None = None,
                top_k: int = 3) -> pd.DataFrame:
        """Predict themes for sentences.

        Parameters
        ----------
        texts : sequence of str
            Sentences.
        context : sequence of str, default=None
            Each sentence's context, for models trained with context features (for example
            ``policy_themes.features.context.neighbour_context(texts, doc_ids)``); None means none.
        top_k : int, default=3
            How many of the most probable themes to list with their probabilities.

        Returns
        -------
        DataFrame
            ``text``, ``primary``, ``probability`` (of the primary theme), ``themes`` (ids joined
            by ``;``, primary first, ``none`` when nothing fits), ``theme_probabilities`` (each
            theme of ``themes`` as a ``[theme, probability]`` pair: its membership probability,
            the one compared with the theme's threshold; ``none`` with its probability as the
            primary theme) and ``top_k`` (``[theme, probability]`` pairs of the primary
            theme's probabilities, most probable first). Pairs are rounded to 4 decimals.

        Examples
        --------
        >>> model = load_model("models/default")                       # doctest: +SKIP
        >>> model.predict(["The gas pipeline opened."])["primary"][0]  # doctest: +SKIP
        'energy_diplomacy'
        """
        texts = [str(t) for t in texts]
        if not texts:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        return self._predict_frame(texts, context, top_k, top_k_text=False)

    def _predict_frame(self, texts: list[str], context: Sequence[str] | None, top_k: int, *,
                       top_k_text: bool) -> pd.DataFrame:
        """:meth:`predict`'s frame, its ``top_k`` as pairs or as the text of
        :func:`format_top_k` (made for the whole batch at once)."""
        return pd.DataFrame({"text": texts,
                             **self._prediction_columns(texts, context, top_k, top_k_text)})

    def _prediction_columns(self, texts: list[str], context: Sequence[str] | None, top_k: int,
                            top_k_text: bool
                            ) -> dict[str, list | np.ndarray | pd.api.extensions.ExtensionArray]:
        """The columns of :meth:`_predict_frame` but ``text``; with ``top_k_text``, the cells
        of a written table (probabilities to :data:`PROBABILITY_DECIMALS` decimals)."""
        if self.array_model is not None and top_k_text:  # the columns of a table, made by Arrow
            primary, themes, proba, membership = self.array_model.predict_themes(
                texts, context, as_cells=True)
        else:
            primary, sets, proba, membership = self.predict_arrays(texts, context)
            themes = [THEME_SEP.join(s) for s in sets]
        classes = self.classes
        order = np.argsort(-proba, axis=1)[:, : max(top_k, 1)]
        members = set_members(proba, membership, classes, self._membership_themes(),
                              self._threshold_vector())
        if top_k_text:
            top = top_k_cell_array(proba, order, classes)
            member_cells = member_cell_array(members, classes, self._membership_themes())
            probability = np.round(proba.max(axis=1), PROBABILITY_DECIMALS)
        else:
            top = [[[classes[j], round(float(proba[i, j]), PROBABILITY_DECIMALS)] for j in row]
                   for i, row in enumerate(order)]
            member_cells = member_pairs(members, classes, self._membership_themes())
            probability = proba.max(axis=1)  # the primary theme is the most probable class
        return {"primary": primary, "probability": probability, "themes": themes,
                "theme_probabilities": member_cells, "top_k": top}

    def _membership_themes(self) -> list[str]:
        """The theme ids of the membership probabilities' columns (``none`` excluded)."""
        if self.array_model is not None:
            return list(self.array_model.themes)
        return list(self.pipeline.named_steps["clf"].themes_)

    def _threshold_vector(self) -> np.ndarray:
        thresholds = self.thresholds
        return np.array([thresholds.get(t, 0.5) for t in self._membership_themes()])

    def explain(self, texts: Sequence[str], *, context: Sequence[str] | None = None,
                n_terms: int = 5, taxonomy: Taxonomy | None = None) -> list[dict]:
        """Say why each sentence got its primary theme.

        Parameters
        ----------
        texts : sequence of str
            Sentences.
        context : sequence of str, default=None
            Each sentence's context, as for :meth:`predict`.
        n_terms : int, default=5
            How many features to list per sentence.
        taxonomy : Taxonomy, default=None
            The taxonomy whose rules to report as fired (the model's own when it has rule
            features, else none are reported).

        Returns
        -------
        list of dict
            Per sentence: ``primary``, ``terms`` (the features that pushed the sentence hardest
            towards its primary theme, as ``[feature, contribution]``; features are
            ``word:<n-gram>``, ``char:<n-gram>`` or ``rule:<theme>``) and ``rules`` (the rules
            that fired).
        """
        from policy_themes.model.classifier import make_frame

        features = self.pipeline.named_steps["features"]
        clf = self.pipeline.named_steps["clf"]
        matrix = features.transform(make_frame(texts, context)).tocsr()
        names = _feature_names(features)
        head = clf.primary_
        primary = clf.predict(matrix)
        rules = _fired_rules(texts, taxonomy or _model_taxonomy(features))
        explanations = []
        for i, theme in enumerate(primary):
            row = matrix.getrow(i)
            k = list(head.classes_).index(theme)
            coef = head.coef_[k] if head.coef_.shape[0] > 1 else head.coef_[0] * (1 if k else -1)
            contributions = row.data * coef[row.indices]
            top = np.argsort(-contributions)[:n_terms]
            terms = [[names[row.indices[j]], round(float(contributions[j]), 4)]
                     for j in top if contributions[j] > 0]
            explanations.append({"primary": theme, "terms": terms, "rules": rules[i]})
        return explanations


def _feature_names(features) -> list[str]:
    """Readable feature names: ``word:<n-gram>``, ``char:<n-gram>``, ``rule:<theme>`` and the
    same with ``context `` in front for the context blocks."""
    prefixes = {"word": "word:", "char": "char:", "rules": "", "context_words": "context word:",
                "context_rules": "context "}
    readable = []
    for name in features.get_feature_names_out():
        block, _, feature = name.partition("__")
        readable.append(prefixes.get(block, f"{block}:") + feature)
    return readable


def _model_taxonomy(features) -> Taxonomy | None:
    blocks = getattr(features, "named_transformers_", {})
    for name in ("rules", "context_rules"):
        if name in blocks:
            return blocks[name].taxonomy
    return None


def _fired_rules(texts: Sequence[str], taxonomy: Taxonomy | None) -> list[list[str]]:
    if taxonomy is None:
        return [[] for _ in texts]
    from policy_themes.rules.labeling import label_sentences

    return label_sentences([str(t) for t in texts], taxonomy).rules_fired


def load_model(model_dir: str | Path = "models/default", *,
               trust_pickle: bool = False) -> ThemeModel:
    """Load a model directory written by ``policy-themes train``, or a shared ``.skops`` model.

    Nothing is unpickled: a model directory predicts from its ``model.npz`` (read with
    ``allow_pickle=False``), a ``.skops`` file is loaded by skops after every type it names is
    checked against :data:`~policy_themes.model.sharing.ALLOWED_TYPES`, and either model's arrays
    and spec are checked before they are used (:mod:`policy_themes.model.checks`).

    Parameters
    ----------
    model_dir : str or Path, default="models/default"
        The model directory; or a ``.skops`` file written by ``policy-themes export`` (a
        directory holding ``model.skops`` but no ``model.joblib`` loads that file).
    trust_pickle : bool, default=False
        Allow reading the directory's ``model.joblib`` (a pickle: it can run code) when the
        scikit-learn pipeline is needed (:meth:`ThemeModel.explain`), or to predict with a
        directory that has no ``model.npz``. Only for model directories you trust.

    Returns
    -------
    ThemeModel

    Raises
    ------
    ModelError
        If the directory or file is missing, damaged, fails its SHA-256 check or its checks, is
        of another format, has no ``model.npz`` (without ``trust_pickle``), or (``.skops``)
        names a type that is not on the allow-list.
    """
    from policy_themes.model.sharing import load_skops, skops_array_model, skops_model_file
    from policy_themes.model.store import (
        load_array_model,
        load_pipeline,
        no_arrays_error,
        read_meta,
        verify_model_file,
        warn_versions,
    )

    shared = skops_model_file(model_dir)
    if shared is not None:
        pipeline, meta = load_skops(shared)
        _check_pipeline_taxonomies(pipeline, shared)
        return ThemeModel(pipeline, meta, shared, array_model=skops_array_model(pipeline, shared))
    meta = read_meta(model_dir)
    _check_embeddings_installed(meta, model_dir)
    # the whole directory is checked, model.joblib too, though the arrays are what predicts
    verify_model_file(Path(model_dir), meta)
    array_model = load_array_model(model_dir, meta)
    if array_model is not None:
        warn_versions(meta, Path(model_dir))
        return ThemeModel(None, meta, Path(model_dir), array_model=array_model,
                          trust_pickle=trust_pickle)
    if not trust_pickle:
        raise no_arrays_error(model_dir)
    pipeline, meta = load_pipeline(model_dir)
    steps = getattr(pipeline, "named_steps", {})
    if "features" not in steps or "clf" not in steps:
        raise ModelError(f"{model_dir}: model.joblib does not hold a policy-themes pipeline")
    _check_pipeline_taxonomies(pipeline, Path(model_dir) / "model.joblib")
    return ThemeModel(pipeline, meta, Path(model_dir), trust_pickle=True)


def _check_pipeline_taxonomies(pipeline, where: Path) -> None:
    """Check the taxonomy of each rule block of a loaded pipeline as strictly as a taxonomy
    file (a rule RE2 cannot run is refused here, not when predicting), and give the block the
    checked copy."""
    from policy_themes.errors import ConfigError
    from policy_themes.rules.taxonomy import check_taxonomy

    blocks = getattr(pipeline.named_steps["features"], "named_transformers_", {})
    for name in ("rules", "context_rules"):
        if name in blocks:
            try:
                blocks[name].taxonomy = check_taxonomy(blocks[name].taxonomy,
                                                       where=f"{where}: taxonomy")
            except ConfigError as exc:
                raise ModelError(str(exc)) from None


def _check_embeddings_installed(meta: dict, model_dir) -> None:
    """A model that reads sentence embeddings needs the ``embeddings`` extra: say so at once."""
    embeddings = meta.get("embeddings")
    if isinstance(embeddings, dict):
        from policy_themes.features.embeddings import require_embeddings

        require_embeddings(str(embeddings.get("model")), f"{model_dir}: this model")


def format_top_k(pairs) -> str:
    """Write ``[[theme, probability], ...]`` as ``theme:0.9120;theme:0.0410`` for a table cell
    (:data:`PROBABILITY_DECIMALS` decimals)."""
    return ";".join(f"{theme}:{prob:.4f}" for theme, prob in pairs)


def top_k_cells(proba: np.ndarray, order: np.ndarray, classes: Sequence[str]) -> list[str]:
    """:func:`format_top_k` of every row's top classes, made with array operations.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
        Probabilities.
    order : ndarray of int, shape (n, k)
        Each row's top columns, most probable first.
    classes : sequence of str
        Column names.

    Returns
    -------
    list of str
        The same text as ``format_top_k`` of the pairs :meth:`ThemeModel.predict` gives
        (probabilities rounded to 4 decimals).
    """
    return top_k_cell_array(proba, order, classes).tolist()


def top_k_cell_array(proba: np.ndarray, order: np.ndarray, classes: Sequence[str]):
    """:func:`top_k_cells` as pandas' string array (:func:`~.data.string_array`), joined by
    Arrow from tables of the class names and of the 10,001 probabilities' texts (no Python
    string per cell, from pandas 3 on)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from policy_themes.io.sentence_frames import string_array

    values = np.take_along_axis(proba, order, axis=1)
    semicolon = pa.scalar(";", type=pa.large_string())
    pairs = [_pair_cells(classes, order[:, j], values[:, j]) for j in range(order.shape[1])]
    return string_array(pc.binary_join_element_wise(*pairs, semicolon))


def member_pairs(members, classes: Sequence[str], themes: Sequence[str]) -> list[list[list]]:
    """Each row's theme set as ``[theme, membership probability]`` pairs (rounded to 4
    decimals), from :func:`~policy_themes.model.decisions.set_members` over ``classes`` (the
    primary themes) and ``themes`` (the membership columns)."""
    pairs = [[[classes[i], round(float(p), PROBABILITY_DECIMALS)]]
             for i, p in zip(members.primary_idx, members.primary_probability)]
    for row, theme, p in zip(members.extra_rows, members.extra_themes,
                             members.extra_probabilities):
        pairs[row].append([themes[theme], round(float(p), PROBABILITY_DECIMALS)])
    return pairs


def member_cell_array(members, classes: Sequence[str], themes: Sequence[str]):
    """:func:`member_pairs` as the text of :func:`format_top_k`, pandas' string array, made by
    Arrow: each row's list of pair cells (its primary, then its other members) joined."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from policy_themes.io.sentence_frames import string_array

    primary = _pair_cells(classes, members.primary_idx, members.primary_probability)
    if not len(members.extra_rows):
        return string_array(primary)
    extras = _pair_cells(themes, members.extra_themes, members.extra_probabilities)
    n = len(members.primary_idx)
    sizes = np.bincount(members.extra_rows, minlength=n) + 1
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    # each row's list: its primary's cell, then its extras' cells (in row order already)
    take = np.empty(offsets[-1], dtype=np.int64)
    take[offsets[:-1]] = np.arange(n)
    others = np.ones(offsets[-1], dtype=bool)
    others[offsets[:-1]] = False
    take[others] = n + np.arange(len(extras))
    cells = pa.concat_arrays([primary, extras]).take(pa.array(take))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), cells)
    return string_array(pc.binary_join(lists, pa.scalar(";", type=pa.large_string())))


def _pair_cells(classes: Sequence[str], columns: np.ndarray, values: np.ndarray):
    """Arrow cells ``class:probability`` (the text :func:`format_top_k` writes) of each row's
    class ``columns`` and probability ``values``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pa.array([f"{name}:" for name in classes], type=pa.large_string())
    scaled = values * 10000
    nearest = np.clip(np.floor(scaled + 0.5), 0, 10000).astype(np.int64)
    # within a hair of a half, the product's own rounding may have moved it: Python rounds
    # those (round(p, 4) is the double nearest k / 10000, so k comes back exactly)
    for i in np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6):
        nearest[i] = round(round(float(values[i]), 4) * 10000)
    nothing = pa.scalar("", type=pa.large_string())
    return pc.binary_join_element_wise(names.take(columns),
                                       _ten_thousandths_array().take(nearest), nothing)


@lru_cache(maxsize=1)
def _ten_thousandths_array():
    """What format_top_k writes for a probability rounded to 4 decimals, k / 10000, at k:
    ``round(p, 4)`` is the double nearest k / 10000, as the division is."""
    import pyarrow as pa

    return pa.array([f"{k / 10000:.4f}" for k in range(10001)], type=pa.large_string())
