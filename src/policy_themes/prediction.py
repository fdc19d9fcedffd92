"""Use a trained model: themes for new sentences, top-k probabilities, explanations.

:func:`load_model` returns a :class:`ThemeModel`; ``model.predict(texts)`` gives a DataFrame with
the primary theme and its probability, the theme set, and the top-k themes with probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ModelError
from .pipeline import make_frame
from .taxonomy import Taxonomy

__all__ = ["ThemeModel", "load_model", "PredictRun", "predict_files"]


class ThemeModel:
    """A fitted pipeline with its metadata.

    Parameters
    ----------
    pipeline : Pipeline
        Features (``features``) and a ``ThemeClassifier`` (``clf``).
    meta : dict
        The content of ``model.json``.
    path : Path, default=None
        Where the model was loaded from.
    """

    def __init__(self, pipeline, meta: dict, path: Path | None = None):
        self.pipeline = pipeline
        self.meta = meta
        self.path = path

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
        from .taxonomy import load_taxonomy

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
        return list(self.pipeline.named_steps["clf"].classes_)

    @property
    def thresholds(self) -> dict[str, float]:
        """Membership threshold per theme."""
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
        return bool(features.get("context_words") or features.get("context_rules"))

    @property
    def context_settings(self):
        """Where the model's training took context from (a ``ContextConfig``)."""
        from .config import context_config

        return context_config(self.meta.get("config", {}).get("context"), "model.json")

    def context_for(self, frame: pd.DataFrame) -> list[str] | None:
        """The context of a sentence table's rows as the model was trained to read it."""
        from .context import frame_context

        return frame_context(frame, self.context_settings) if self.uses_context else None

    def predict_arrays(self, texts: Sequence[str], context: Sequence[str] | None = None):
        """Primary themes, theme sets, primary probabilities and membership probabilities."""
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
            ``policy_themes.context.neighbour_context(texts, doc_ids)``); None means none.
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
        primary, sets, proba, _ = self.predict_arrays(texts, context)
        classes = self.classes
        order = np.argsort(-proba, axis=1)[:, : max(top_k, 1)]
        return pd.DataFrame({
            "text": texts,
            "primary": primary,
            "probability": proba[np.arange(len(texts)), [classes.index(p) for p in primary]],
            "themes": [";".join(s) for s in sets],
            "top_k": [[[classes[j], round(float(proba[i, j]), 4)] for j in row]
                      for i, row in enumerate(order)],
        })

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
    from .labeling import label_sentences

    return label_sentences([str(t) for t in texts], taxonomy).rules_fired


def load_model(model_dir: str | Path = "models/default") -> ThemeModel:
    """Load a model directory written by ``policy-themes train``.

    Parameters
    ----------
    model_dir : str or Path, default="models/default"
        The model directory.

    Returns
    -------
    ThemeModel

    Raises
    ------
    ModelError
        If the directory is missing, damaged, fails its SHA-256 check or is of another format.
    """
    from .artifacts import load_pipeline

    pipeline, meta = load_pipeline(model_dir)
    steps = getattr(pipeline, "named_steps", {})
    if "features" not in steps or "clf" not in steps:
        raise ModelError(f"{model_dir}: model.joblib does not hold a policy-themes pipeline")
    return ThemeModel(pipeline, meta, Path(model_dir))


@dataclass
class PredictRun:
    """What :func:`predict_files` did: sentences predicted and the file written."""

    sentences: int
    output: Path | None
    preview: pd.DataFrame


def predict_files(
    model: ThemeModel,
    inputs: Sequence[str | Path],
    *,
    out: str | Path | None = None,
    top_k: int = 3,
    text_column: str = "text",
    documents: bool = False,
    id_column: str | None = None,
    chunksize: int = 20_000,
    encoding: str | None = None,
    preview_rows: int = 50,
    progress: Callable[[int, float], None] | None = None,
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
    text_column, documents, id_column, chunksize, encoding
        As for :func:`~policy_themes.data.iter_sentence_frames`.
    preview_rows : int, default=50
        Rows kept in memory for display.
    progress : callable, default=None
        Called after each chunk with (sentences so far, fraction of input read).

    Returns
    -------
    PredictRun
    """
    from .batch import check_output_path
    from .data import iter_sentence_frames, table_sink

    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_output_path(out_path, inputs)
    fraction = {"value": 0.0}
    frames = iter_sentence_frames(inputs, text_column=text_column, documents=documents,
                                  id_column=id_column, chunksize=chunksize, encoding=encoding,
                                  progress=lambda f: fraction.__setitem__("value", f))
    done = 0
    previews = []
    with table_sink(out_path) as sink:
        for frame in frames:
            predicted = model.predict(frame["text"].fillna("").astype(str).tolist(),
                                      context=model.context_for(frame), top_k=top_k)
            chunk = frame.drop(columns=["text"]).reset_index(drop=True)
            chunk = pd.concat([chunk, predicted], axis=1)
            chunk["top_k"] = [_format_top_k(t) for t in chunk["top_k"]]
            sink.write(chunk)
            if sum(len(p) for p in previews) < preview_rows:
                previews.append(chunk.head(preview_rows))
            done += len(chunk)
            if progress is not None:
                progress(done, fraction["value"])
    preview = pd.concat(previews, ignore_index=True).head(preview_rows) if previews else \
        pd.DataFrame()
    return PredictRun(done, out_path, preview)


def _format_top_k(pairs) -> str:
    return ";".join(f"{theme}:{prob:.3f}" for theme, prob in pairs)

