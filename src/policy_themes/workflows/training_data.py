"""The data a model trains on: the shipped labeled tables, labeled files read as one frame with
their documents, weights and findings, and the rules' weak labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.config import TrainConfig
from policy_themes.features.context import frame_context
from policy_themes.io.tables import DOC_COL
from policy_themes.rules.taxonomy import Taxonomy

__all__ = ["DEFAULT_DATA", "INVENTED_DATA", "REAL_DATA", "TrainingRows", "load_training_data",
           "read_training_data", "read_training_rows", "read_rows", "weak_labels", "file_key",
           "cv_groups"]


def _shipped(name: str) -> Path:
    from policy_themes.resources import resource_path

    return resource_path(f"data/labeled/{name}")


#: The invented sentences written for the taxonomy (``data/labeled/sentences.csv``).
INVENTED_DATA = _shipped("sentences.csv")


#: The real UN General Debate sentences labeled for it (``data/labeled/ungdc.csv``).
REAL_DATA = _shipped("ungdc.csv")


#: What ``train`` learns from when no data is given: both.
DEFAULT_DATA = (INVENTED_DATA, REAL_DATA)


def load_training_data(paths: Sequence[str | Path], taxonomy: Taxonomy, *,
                       text_column: str = "text", label_column: str | None = None,
                       encoding: str | None = None) -> pd.DataFrame:
    """Read and concatenate labeled tables (``text`` plus ``themes`` or ``theme``, or the
    ``label_column``; labels may be theme ids or names).

    Returns
    -------
    DataFrame
        ``text``, ``themes`` (lists, primary first) and the tables' other columns. Rows with
        blank or missing text are skipped.

    Raises
    ------
    DataError
        If a file is missing or malformed, or a label is empty or unknown.
    """
    return read_training_data(paths, taxonomy, text_column=text_column,
                               label_column=label_column, encoding=encoding)[0]


@dataclass
class TrainingRows:
    """The labeled tables as one frame, and what each row brings to training."""

    frame: pd.DataFrame
    context: list[str] | None
    weights: np.ndarray | None
    measured: np.ndarray | None
    findings: list
    groups: list[str] | None = None
    locations: list[tuple[str, int]] = field(default_factory=list)


def file_key(path: str | Path) -> str:
    """A training file's name in ``data.weights`` and ``data.cross_validate``: its name
    without extensions (``ungdc`` for ``data/labeled/ungdc.csv.gz``)."""
    return Path(path).name.split(".")[0]


def read_training_data(paths, taxonomy, config: TrainConfig, *, text_column, label_column,
                        encoding, doc_column=None) -> TrainingRows:
    """The labeled tables as one frame, with findings: blank rows, duplicates, conflicts.

    Each table's documents are found by :func:`find_document_column`; the
    frame's ``doc_id`` is each sentence's document (the file's number before it when there are
    several files), absent when no table has a document column. Each table's context is read
    from that table (its context columns, else its documents' neighbours); its rows are
    weighted and measured as the config's ``data`` says.
    """
    from policy_themes.io.labels import blank_rows_finding, label_findings, read_labeled_table
    from policy_themes.io.sentence_frames import find_document_column
    from policy_themes.io.tables import DOC_COL

    tables = [read_labeled_table(p, taxonomy, text_column=text_column, label_column=label_column,
                                 encoding=encoding) for p in paths]
    columns = [find_document_column(t.frame.columns, config.context.document_columns, doc_column,
                                    source=t.source) for t in tables]
    frames = [t.frame.copy() for t in tables]
    context = None
    if config.uses_context:
        context = [line for table, column in zip(frames, columns)
                   for line in frame_context(table, config.context, doc_column=column)]
    if any(c is not None for c in columns):
        for number, (table, column) in enumerate(zip(frames, columns)):
            ids = table[column].astype(str) if column is not None else \
                pd.Series([f"row {i}" for i in range(len(table))], index=table.index)
            table[DOC_COL] = (f"{number}:" + ids) if len(frames) > 1 else ids
    else:
        frames = [f.drop(columns=[DOC_COL]) if DOC_COL in f.columns else f for f in frames]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    keys = np.repeat([file_key(p) for p in paths], [len(f) for f in frames])
    blank = blank_rows_finding({t.source: t.skipped for t in tables if t.skipped})
    locations = [place for t in tables for place in t.locations]
    findings = label_findings(frame["text"].tolist(), frame["themes"].tolist(), locations)
    return TrainingRows(frame, context, _row_weights(keys, config), _measured_rows(keys, config),
                         ([blank] if blank else []) + findings, locations=locations)


def read_training_rows(paths: Sequence[str | Path], taxonomy: Taxonomy, config: TrainConfig, *,
                       text_column: str = "text", label_column: str | None = None,
                       encoding: str | None = None, doc_column: str | None = None):
    """Read labeled tables as :func:`train` does: rows, context, weights and groups.

    Returns
    -------
    object
        With ``frame`` (``text``, ``themes``, the tables' other columns, ``doc_id`` when a
        table names documents), ``context`` (list of str or None), ``weights`` (ndarray or
        None), ``groups`` (each row's cross-validation group, or None), ``locations`` (each
        row's file and line) and ``findings``.

    Raises
    ------
    DataError
        If a file is missing or malformed, or a label is empty or unknown.
    """
    rows = read_training_data(paths, taxonomy, config, text_column=text_column,
                               label_column=label_column, encoding=encoding,
                               doc_column=doc_column)
    rows.groups = cv_groups(rows.frame, config)
    return rows


def cv_groups(frame: pd.DataFrame, config: TrainConfig) -> list[str] | None:
    """Each row's cross-validation group: ``cv.group_column``, else its document, else None."""
    group_col = config.cv.group_column or DOC_COL
    return frame[group_col].astype(str).tolist() if group_col in frame.columns else None


def _row_weights(keys: np.ndarray, config: TrainConfig) -> np.ndarray | None:
    """Each row's sample weight by its file (``data.weights``), None when all are 1."""
    weights = np.array([config.data.weights.get(k, 1.0) for k in keys], dtype=float)
    return None if (weights == 1.0).all() else weights


def _measured_rows(keys: np.ndarray, config: TrainConfig) -> np.ndarray | None:
    """The rows cross-validation measures (``data.cross_validate``), None for all."""
    measured = np.isin(keys, list(config.data.cross_validate))
    return measured if measured.any() and not measured.all() else None


def weak_labels(paths: Sequence[str | Path], taxonomy: Taxonomy, *, text_column: str = "text",
                documents: bool = False, encoding: str | None = None) -> pd.DataFrame:
    """Label unlabeled documents or sentence tables with the taxonomy's rules.

    Returns
    -------
    DataFrame
        ``doc_id``, ``text`` and ``themes`` (the rules' theme lists; ``["none"]`` where no rule
        fires), ready for :func:`train_model`. Rows with blank or missing text are skipped.
    """
    return read_weak_labels(paths, taxonomy, text_column=text_column, documents=documents,
                        encoding=encoding)[0]


def read_weak_labels(paths, taxonomy, *, text_column, documents, encoding, doc_column=None,
                 document_columns=()):
    """The rules' labels of unlabeled input, with the finding of rows skipped for blank text."""
    from policy_themes.io.labels import blank_rows_finding
    from policy_themes.io.sentence_frames import iter_sentence_frames
    from policy_themes.rules.labeling import RuleMatcher, label_sentences

    matcher = RuleMatcher(taxonomy)
    parts = []
    skipped: dict[str, list[int]] = {}
    for frame in iter_sentence_frames(
            paths, text_column=text_column, documents=documents, encoding=encoding,
            doc_column=doc_column, document_columns=document_columns,
            on_skip=lambda source, rows: skipped.setdefault(source, []).extend(rows)):
        texts = frame["text"].fillna("").astype(str).tolist()
        result = label_sentences(texts, taxonomy, matcher=matcher)
        parts.append(pd.DataFrame({"doc_id": frame["doc_id"].astype(str).tolist(),
                                   "text": texts, "themes": result.themes}))
    columns = ["doc_id", "text", "themes"]
    weak = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    blank = blank_rows_finding(skipped)
    return weak[weak["text"].str.strip() != ""].reset_index(drop=True), [blank] if blank else []


def read_rows(paths: Sequence[str | Path], taxonomy: Taxonomy, config: TrainConfig, *,
              weak: bool = False, text_column: str = "text", label_column: str | None = None,
              documents: bool = False, doc_column: str | None = None,
              encoding: str | None = None) -> TrainingRows:
    """The rows ``train`` learns from: labeled tables (:func:`read_training_data`), or with
    ``weak`` the rules' labels of unlabeled input (:func:`read_weak_labels`), with their
    context and cross-validation groups.

    Raises
    ------
    DataError
        If the data is missing, malformed or has no text, or a label is unknown.
    """
    from policy_themes.errors import DataError

    if weak:
        frame, findings = read_weak_labels(paths, taxonomy, text_column=text_column,
                                           documents=documents, encoding=encoding,
                                           doc_column=doc_column,
                                           document_columns=config.context.document_columns)
        context = frame_context(frame, config.context, doc_column=DOC_COL) \
            if config.uses_context and len(frame) else None
        rows = TrainingRows(frame, context, None, None, findings)
    else:
        rows = read_training_data(paths, taxonomy, config, text_column=text_column,
                                  label_column=label_column, encoding=encoding,
                                  doc_column=doc_column)
    if not len(rows.frame) and rows.findings:
        raise DataError(f"no text to train on: {rows.findings[0]}")
    rows.groups = cv_groups(rows.frame, config)
    return rows
