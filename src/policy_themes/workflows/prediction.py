"""Use a trained model: themes for new sentences, top-k probabilities, explanations.

:func:`load_model` returns a :class:`ThemeModel`; ``model.predict(texts)`` gives a DataFrame with
the primary theme and its probability, the theme set, and the top-k themes with probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.errors import ModelError
from policy_themes.rules.taxonomy import THEME_SEP, Taxonomy

__all__ = ["ThemeModel", "load_model", "PredictRun", "predict_files", "format_top_k",
           "top_k_cells", "top_k_cell_array"]


class ThemeModel:
    """A fitted pipeline with its metadata.

    Parameters
    ----------
    pipeline : Pipeline or None
        Features (``features``) and a ``ThemeClassifier`` (``clf``); None loads it from ``path``
        when it is first needed (a model with ``compiled`` predicts without it).
    meta : dict
        The content of ``model.json``.
    path : Path, default=None
        Where the model was loaded from.
    compiled : CompiledModel, default=None
        The pipeline as arrays (``model.npz``): predictions come from it, without scikit-learn.
    """

    def __init__(self, pipeline, meta: dict, path: Path | None = None, compiled=None):
        if pipeline is None and (compiled is None or path is None):
            raise ValueError("ThemeModel needs a pipeline, or a compiled model and its path")
        self._pipeline = pipeline
        self.meta = meta
        self.path = path
        self.compiled = compiled

    def portable(self) -> ThemeModel:
        """This model with everything it predicts with inside it when pickled, for processes
        that cannot read its directory (Dask workers on other machines)."""
        compiled = self.compiled.embedded() if self.compiled is not None else None
        return ThemeModel(self._pipeline, self.meta, self.path, compiled=compiled)

    @property
    def pipeline(self):
        """The scikit-learn pipeline, loaded from ``model.joblib`` on first use."""
        if self._pipeline is None:
            from policy_themes.model.store import load_pipeline

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

        if self.compiled is not None and self.compiled.taxonomy is not None:
            return self.compiled.taxonomy
        features = self.pipeline.named_steps["features"]
        own = _model_taxonomy(features)
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
        if self.compiled is not None:
            return list(self.compiled.classes)
        return list(self.pipeline.named_steps["clf"].classes_)

    @property
    def thresholds(self) -> dict[str, float]:
        """Membership threshold per theme."""
        if self.compiled is not None:
            return dict(self.compiled.thresholds)
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
        table has (see :func:`~policy_themes.io.data.find_document_column`). None for a model
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
        if self.compiled is not None:
            return self.compiled.predict_themes(texts, context)
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
            by ``;``, primary first, ``none`` when nothing fits) and ``top_k`` (a list of
            ``[theme, probability]`` pairs, most probable first).

        Examples
        --------
        >>> model = load_model("models/default")                       # doctest: +SKIP
        >>> model.predict(["The gas pipeline opened."])["primary"][0]  # doctest: +SKIP
        'energy_diplomacy'
        """
        texts = [str(t) for t in texts]
        if not texts:
            return pd.DataFrame(columns=["text", "primary", "probability", "themes", "top_k"])
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
        """The columns of :meth:`_predict_frame` but ``text``."""
        if self.compiled is not None and top_k_text:  # the columns of a table, made by Arrow
            primary, themes, proba, _ = self.compiled.predict_themes(texts, context,
                                                                     as_cells=True)
        else:
            primary, sets, proba, _ = self.predict_arrays(texts, context)
            themes = [THEME_SEP.join(s) for s in sets]
        classes = self.classes
        order = np.argsort(-proba, axis=1)[:, : max(top_k, 1)]
        if top_k_text:
            top = top_k_cell_array(proba, order, classes)
        else:
            top = [[[classes[j], round(float(proba[i, j]), 4)] for j in row]
                   for i, row in enumerate(order)]
        return {
            "primary": primary,
            "probability": proba.max(axis=1),  # the primary theme is the most probable class
            "themes": themes,
            "top_k": top,
        }

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


def load_model(model_dir: str | Path = "models/default") -> ThemeModel:
    """Load a model directory written by ``policy-themes train``, or a shared ``.skops`` model.

    Parameters
    ----------
    model_dir : str or Path, default="models/default"
        The model directory; or a ``.skops`` file written by ``policy-themes export`` (a
        directory holding ``model.skops`` but no ``model.joblib`` loads that file), which is
        loaded without unpickling, after its types are checked against
        :data:`~policy_themes.model.sharing.ALLOWED_TYPES`.

    Returns
    -------
    ThemeModel

    Raises
    ------
    ModelError
        If the directory or file is missing, damaged, fails its SHA-256 check, is of another
        format, or (``.skops``) names a type that is not on the allow-list.
    """
    from policy_themes.io.model_meta import check_model_meta
    from policy_themes.model.sharing import load_shared, shared_model_file
    from policy_themes.model.store import (
        load_compiled,
        load_pipeline,
        read_meta,
        verify_model_file,
        warn_versions,
    )

    shared = shared_model_file(model_dir)
    if shared is not None:
        pipeline, meta = load_shared(shared)
        check_model_meta(meta, str(shared))
        _check_pipeline_taxonomies(pipeline, shared)
        return ThemeModel(pipeline, meta, shared)
    meta = check_model_meta(read_meta(model_dir), str(model_dir))
    _check_embeddings_installed(meta, model_dir)
    # the whole directory is checked, model.joblib too, though the arrays are what predicts
    verify_model_file(Path(model_dir), meta)
    compiled = load_compiled(model_dir, meta)
    if compiled is not None:
        warn_versions(meta, Path(model_dir))
        return ThemeModel(None, meta, Path(model_dir), compiled=compiled)
    pipeline, meta = load_pipeline(model_dir)
    steps = getattr(pipeline, "named_steps", {})
    if "features" not in steps or "clf" not in steps:
        raise ModelError(f"{model_dir}: model.joblib does not hold a policy-themes pipeline")
    _check_pipeline_taxonomies(pipeline, Path(model_dir) / "model.joblib")
    return ThemeModel(pipeline, meta, Path(model_dir))


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


@dataclass
class PredictRun:
    """What :func:`predict_files` did: sentences predicted, the file written, and ``findings``
    (:class:`~policy_themes.io.data.DataFinding`: rows skipped for blank text)."""

    sentences: int
    output: Path | None
    preview: pd.DataFrame
    findings: list = field(default_factory=list)


def predict_files(
    model: ThemeModel,
    inputs: Sequence[str | Path],
    *,
    out: str | Path | None = None,
    top_k: int = 3,
    text_column: str = "text",
    documents: bool = False,
    doc_column: str | None = None,
    chunksize: int = 20_000,
    encoding: str | None = None,
    preview_rows: int = 50,
    progress: Callable[[int, float], None] | None = None,
    jobs: int | None = 1,
) -> PredictRun:
    """Predict themes for documents or sentence tables, streaming in chunks.

    Parameters
    ----------
    model : ThemeModel
        The model.
    inputs : sequence of str or Path
        ``.txt`` documents (split into sentences), folders of them, or tables.
    out : str or Path, default=None
        Output file (CSV, TSV, JSONL, Parquet), written atomically; None keeps only a preview.
    top_k : int, default=3
        Themes listed with probabilities.
    text_column, documents, doc_column, chunksize, encoding
        As for :func:`~policy_themes.io.data.iter_sentence_frames`; the document column is looked
        for among the model's ``context.document_columns``.
    preview_rows : int, default=50
        Rows kept in memory for display.
    progress : callable, default=None
        Called after each chunk with (sentences so far, fraction of input read).
    jobs : int, default=1
        Processes that predict chunks in parallel (None or 0: every core), each receiving the
        model once; the output is the same for any number.

    Returns
    -------
    PredictRun

    Raises
    ------
    DataError
        If an input is missing or malformed, the output path is an input, or there is no text
        at all. Table rows with blank or missing text are skipped and reported in ``findings``,
        and so is a sentence table that gives a context model no context (no document
        column); nothing is written if the run does not complete.
    """
    from policy_themes.io.data import blank_rows_finding, iter_sentence_frames, table_sink
    from policy_themes.workflows.batch_labeling import (
        check_output_path,
        map_read_chunks,
        no_text_error,
    )

    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_output_path(out_path, inputs)
    fraction = {"value": 0.0}
    skipped: dict[str, list[int]] = {}
    # documents of a table reach the workers unsplit: they split them
    frames = iter_sentence_frames(inputs, text_column=text_column, documents=documents,
                                  doc_column=doc_column,
                                  document_columns=model.context_settings.document_columns,
                                  chunksize=chunksize, encoding=encoding,
                                  progress=lambda f: fraction.__setitem__("value", f),
                                  on_skip=lambda src, rows: skipped.setdefault(src, []).extend(
                                      rows), split=False)
    done = 0
    previews = []
    notes: dict[str, object] = {}
    task = _PredictChunk(model, top_k, columns_only=True)
    with table_sink(out_path) as sink:
        for sent, predicted, share in map_read_chunks(
                task, frames, jobs=jobs, share_read=lambda: fraction["value"]):
            # a sentence chunk comes back as its prediction columns only, without the text
            chunk = _join_prediction(sent, predicted) if isinstance(sent, pd.DataFrame) \
                else predicted
            sink.write(chunk)
            _note_missing_context(model, sent, notes)
            if sum(len(p) for p in previews) < preview_rows:
                previews.append(chunk.head(preview_rows))
            done += len(chunk)
            if progress is not None:
                progress(done, share)
        blank = blank_rows_finding(skipped)
        if not done:
            raise no_text_error("predict", inputs, blank)
    preview = pd.concat(previews, ignore_index=True).head(preview_rows) if previews else \
        pd.DataFrame()
    return PredictRun(done, out_path, preview, [*notes.values(), *([blank] if blank else [])])


def _note_missing_context(model: ThemeModel, chunk, notes: dict) -> None:
    """Note once per file a sentence table whose rows have no document (and the model reads
    context): its sentences are predicted without their neighbours."""
    from policy_themes.io.data import DOC_COL, DataFinding

    if not isinstance(chunk, pd.DataFrame) or "documents" not in chunk.attrs:
        return  # documents split into sentences: each sentence's document is known
    source = chunk.attrs.get("source", "input")
    if source in notes or chunk.attrs["documents"] is not None:
        return
    message = model.context_note([c for c in chunk.columns if c != DOC_COL], source)
    if message is not None:
        notes[source] = DataFinding("no_context", message, len(chunk))


class _PredictChunk:
    """Predict one chunk: the chunk's other columns, ``text``, then the prediction columns.

    With ``columns_only``, a chunk of sentences gives only the prediction columns (the caller
    has the rest); a chunk of documents (:class:`~policy_themes.io.data.DocumentRows`) is split
    here and always comes back whole. Picklable, so each worker process of
    :func:`~policy_themes.parallel.pool.map_chunks` receives the model once rather than with every
    chunk.
    """

    def __init__(self, model: ThemeModel, top_k: int, columns_only: bool = False):
        self.model = model
        self.top_k = top_k
        self.columns_only = columns_only

    batch = 4096  # sentences per transform: bounds the n-gram matrices' memory

    def share_in_forks(self) -> tuple[str, str] | None:
        """Load the compiled model in the fork server, for the workers to share (see
        :func:`~policy_themes.parallel.pool.map_chunks`)."""
        compiled = self.model.compiled
        return compiled.share_in_forks() if compiled is not None else None

    def __call__(self, chunk) -> pd.DataFrame:
        from policy_themes.io.data import DocumentRows

        if isinstance(chunk, DocumentRows):
            frame, texts = chunk.sentences_and_texts()
        else:
            frame, texts = chunk, None
        predicted = self._predict(frame, texts)
        if self.columns_only and frame is chunk:
            return predicted
        return _join_prediction(frame, predicted)

    def _predict(self, frame: pd.DataFrame, texts: list[str] | None = None) -> pd.DataFrame:
        """The prediction columns of a chunk (no ``text``); ``texts``: its text column as a
        list, when the caller has it."""
        model = self.model
        texts = _texts(frame) if texts is None else texts
        # the frame's doc_id is its document (iter_sentence_frames); the context is taken from
        # the whole chunk, so neighbours cross batches
        context = model.context_for(frame, doc_column="doc_id")
        if not texts:
            return model.predict(texts, top_k=self.top_k).drop(columns=["text"])
        parts = [model._prediction_columns(texts[i:i + self.batch],
                                           None if context is None else context[i:i + self.batch],
                                           self.top_k, top_k_text=True)
                 for i in range(0, len(texts), self.batch)]
        # each row's prediction is independent of the rows beside it: batching changes nothing
        return pd.DataFrame({name: _concatenated([p[name] for p in parts])
                             for name in parts[0]})


def _concatenated(pieces: list):
    """Pieces of a column, one after the other: arrays joined as arrays, lists as a list."""
    first = pieces[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(pieces)
    if isinstance(first, pd.api.extensions.ExtensionArray):
        return type(first)._concat_same_type(pieces)
    return [value for piece in pieces for value in piece]


def _texts(frame: pd.DataFrame) -> list[str]:
    return frame["text"].fillna("").astype(str).tolist()


def _join_prediction(frame: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """The output rows: the chunk without ``text``, then ``text`` and the prediction columns."""
    from policy_themes.io.data import free_names

    chunk = frame.drop(columns=["text"]).reset_index(drop=True)
    chunk["text"] = frame["text"].fillna("").astype(str).reset_index(drop=True)
    # an input column named like a prediction column (a gold "themes", say) is kept as it is and
    # the prediction's column is named model_<name>
    predicted = predicted.rename(columns=free_names(chunk.columns, predicted.columns, "model_"))
    return pd.concat([chunk, predicted.reset_index(drop=True)], axis=1)


def format_top_k(pairs) -> str:
    """Write ``[[theme, probability], ...]`` as ``theme:0.912;theme:0.041`` for a table cell."""
    return ";".join(f"{theme}:{prob:.3f}" for theme, prob in pairs)


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
        (probabilities rounded to 4 decimals, then written with 3).
    """
    return top_k_cell_array(proba, order, classes).tolist()


def top_k_cell_array(proba: np.ndarray, order: np.ndarray, classes: Sequence[str]):
    """:func:`top_k_cells` as pandas' string array (:func:`~.data.string_array`), joined by
    Arrow from tables of the class names and of the 10,001 probabilities' texts (no Python
    string per cell, from pandas 3 on)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from policy_themes.io.data import string_array

    names = pa.array([f"{name}:" for name in classes], type=pa.large_string())
    values = np.take_along_axis(proba, order, axis=1)
    scaled = values * 10000
    nearest = np.clip(np.floor(scaled + 0.5), 0, 10000).astype(np.int64)
    # within a hair of a half, the product's own rounding may have moved it: Python rounds
    # those (round(p, 4) is the double nearest k / 10000, so k comes back exactly)
    for i, j in zip(*np.nonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)):
        nearest[i, j] = round(round(float(values[i, j]), 4) * 10000)
    nothing, semicolon = (pa.scalar(text, type=pa.large_string()) for text in ("", ";"))
    pairs = [pc.binary_join_element_wise(names.take(order[:, j]),
                                         _ten_thousandths_array().take(nearest[:, j]), nothing)
             for j in range(order.shape[1])]
    return string_array(pc.binary_join_element_wise(*pairs, semicolon))


@lru_cache(maxsize=1)
def _ten_thousandths_array():
    """What format_top_k writes for a probability rounded to 4 decimals, k / 10000, at k:
    ``round(p, 4)`` is the double nearest k / 10000, as the division is."""
    import pyarrow as pa

    return pa.array([f"{k / 10000:.3f}" for k in range(10001)], type=pa.large_string())

