"""What to label next: rank unlabeled sentences by how much a label would teach the model.

:func:`suggest` reads a pool of sentences, predicts them with a trained model, ranks them
(:func:`~policy_themes.workflows.pool_ranking.rank_pool`: by default the sentences the model is
least sure of among a random draw, weighted towards themes short of labels) and writes a CSV to
fill in (its ``themes`` column is empty; ``train`` reads it once filled) and a Label Studio
import file with the model's guesses as pre-annotations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.errors import ConfigError, DataError
from policy_themes.io.jsonl_tasks import TASK_FORMATS
from policy_themes.workflows.pool_ranking import RANKINGS, rank_pool, uncertainty

__all__ = ["Suggestions", "suggest", "normalised_text"]


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
