"""Predict themes for files, a chunk at a time over worker processes: :func:`predict_files`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.model.theme_model import ThemeModel
from policy_themes.rules.taxonomy import THEME_SEP

__all__ = ["written_predictions", "PredictRun", "predict_files"]


@dataclass
class PredictRun:
    """What :func:`predict_files` did: sentences predicted, the file written, and ``findings``
    (:class:`~policy_themes.io.labels.DataFinding`: rows skipped for blank text)."""

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
        As for :func:`iter_sentence_frames`; the document column is looked
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
    from policy_themes.io.formats import file_format
    from policy_themes.io.labels import blank_rows_finding
    from policy_themes.io.writers import table_sink
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
    frames = _unsplit_frames(model, inputs, text_column=text_column, documents=documents,
                             doc_column=doc_column, chunksize=chunksize, encoding=encoding,
                             fraction=fraction, skipped=skipped)
    done = 0
    previews = []
    notes: dict[str, object] = {}
    task = _PredictChunk(model, top_k, columns_only=True)
    sink_format = file_format(out_path) if out_path is not None else "csv"
    with table_sink(out_path) as sink:
        for sent, predicted, share in map_read_chunks(
                task, frames, jobs=jobs, share_read=lambda: fraction["value"]):
            # a sentence chunk comes back as its prediction columns only, without the text
            chunk = _join_prediction(sent, predicted) if isinstance(sent, pd.DataFrame) \
                else predicted
            sink.write(written_predictions(chunk, sink_format))
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


def _unsplit_frames(model: ThemeModel, inputs, *, text_column, documents, doc_column,
                    chunksize, encoding, fraction: dict, skipped: dict):
    """The input's frames for the workers, documents of a table unsplit (the workers split
    them); the share read so far goes to ``fraction["value"]``, skipped rows to ``skipped``."""
    from policy_themes.io.sentence_frames import iter_sentence_frames

    return iter_sentence_frames(inputs, text_column=text_column, documents=documents,
                                doc_column=doc_column,
                                document_columns=model.context_settings.document_columns,
                                chunksize=chunksize, encoding=encoding,
                                progress=lambda f: fraction.__setitem__("value", f),
                                on_skip=lambda src, rows: skipped.setdefault(src, []).extend(
                                    rows), split=False)


def _note_missing_context(model: ThemeModel, chunk, notes: dict) -> None:
    """Note once per file a sentence table whose rows have no document (and the model reads
    context): its sentences are predicted without their neighbours."""
    from policy_themes.io.labels import DataFinding
    from policy_themes.io.tables import DOC_COL

    if not isinstance(chunk, pd.DataFrame) or "documents" not in chunk.attrs:
        return  # documents split into sentences: each sentence's document is known
    source = chunk.attrs.get("source", "input")
    if source in notes or chunk.attrs["documents"] is not None:
        return
    message = model.context_note([c for c in chunk.columns if c != DOC_COL], source)
    if message is not None:
        notes[source] = DataFinding("no_context", message, len(chunk))


_PAIR_COLUMNS = ("theme_probabilities", "top_k")


def written_predictions(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """Predictions as a file of format ``fmt`` holds them, from :meth:`ThemeModel.predict`'s
    frame or a written chunk.

    Probabilities have 4 decimals (:data:`~policy_themes.model.theme_model.PROBABILITY_DECIMALS`)
    in every format. JSON lines (``fmt="jsonl"``) get lists: ``themes`` a list of ids,
    ``theme_probabilities`` and ``top_k`` lists of ``[theme, probability]`` pairs; CSV, TSV
    and Parquet get text cells: ids joined by ``;``, pairs written ``theme:0.9120;...``. The
    model's columns renamed ``model_<name>`` (beside an input column of the same name) are
    the ones converted.
    """
    from policy_themes.model.theme_model import PROBABILITY_DECIMALS, format_top_k

    columns = {}
    probability = _model_column(frame, "probability")
    if probability is not None and pd.api.types.is_float_dtype(frame[probability]):
        columns[probability] = frame[probability].round(PROBABILITY_DECIMALS)
    themes = _model_column(frame, "themes")
    if fmt == "jsonl" and themes is not None:
        columns[themes] = [cell.split(THEME_SEP) if isinstance(cell, str) else cell
                           for cell in frame[themes]]
    for name in filter(None, (_model_column(frame, c) for c in _PAIR_COLUMNS)):
        if fmt == "jsonl":
            columns[name] = [_pairs(cell) for cell in frame[name]]
        elif len(frame) and not isinstance(frame[name].iloc[0], str):  # pairs, not cells
            columns[name] = [format_top_k(cell) for cell in frame[name]]
    if not columns:
        return frame
    frame = frame.copy(deep=False)
    for name, values in columns.items():
        frame[name] = values
    return frame


def _model_column(frame: pd.DataFrame, name: str) -> str | None:
    """The name of the model's column ``name`` in ``frame`` (``model_<name>`` beside an input
    column ``name``), or None."""
    for candidate in ("model_" + name, name):
        if candidate in frame.columns:
            return candidate
    return None


def _pairs(cell) -> list:
    """A ``theme:0.9120;...`` cell as ``[[theme, 0.912], ...]`` (pairs are kept as they are)."""
    if not isinstance(cell, str):
        return [list(pair) for pair in cell]
    if not cell:
        return []
    pairs = []
    for text in cell.split(THEME_SEP):
        theme, _, value = text.rpartition(":")
        pairs.append([theme, float(value)])
    return pairs


class _PredictChunk:
    """Predict one chunk: the chunk's other columns, ``text``, then the prediction columns.

    With ``columns_only``, a chunk of sentences gives only the prediction columns (the caller
    has the rest); a chunk of documents (:class:`DocumentRows`) is split
    here and always comes back whole. Picklable, so each worker process of
    :func:`~policy_themes.parallel.pool.map_chunks` receives the model once rather than with every
    chunk.
    """

    def __init__(self, model: ThemeModel, top_k: int, columns_only: bool = False):
        self.model = model
        self.top_k = top_k
        self.columns_only = columns_only

    batch = 4096  # sentences per transform: bounds the n-gram matrices' memory

    def preload_in_forks(self) -> tuple[str, str] | None:
        """Load the array model in the fork server, for the workers to share (see
        :func:`~policy_themes.parallel.pool.map_chunks`)."""
        array_model = self.model.array_model
        return array_model.preload_in_forks() if array_model is not None else None

    def __call__(self, chunk) -> pd.DataFrame:
        from policy_themes.io.sentence_frames import DocumentRows

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
    from policy_themes.io.writers import free_names

    chunk = frame.drop(columns=["text"]).reset_index(drop=True)
    chunk["text"] = frame["text"].fillna("").astype(str).reset_index(drop=True)
    # an input column named like a prediction column (a gold "themes", say) is kept as it is and
    # the prediction's column is named model_<name>
    predicted = predicted.rename(columns=free_names(chunk.columns, predicted.columns, "model_"))
    return pd.concat([chunk, predicted.reset_index(drop=True)], axis=1)
