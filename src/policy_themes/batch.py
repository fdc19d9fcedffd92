"""Label whole files and folders in chunks: read, label, analyse and write as the input streams."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .analysis import RuleAnalysis
from .data import (
    THEMES_COL,
    file_format,
    iter_sentence_frames,
    join_themes,
    parse_themes,
    table_sink,
)
from .errors import DataError
from .labeling import RuleMatcher, label_sentences
from .taxonomy import Taxonomy

__all__ = ["LabelRun", "label_files", "check_output_path"]


@dataclass
class LabelRun:
    """What :func:`label_files` did.

    Attributes
    ----------
    analysis : RuleAnalysis
        Rule statistics over every sentence (with gold figures when the input had gold themes).
    sentences : int
        Number of sentences labeled.
    output : Path or None
        The file written, if any.
    has_gold : bool
        Whether the input carried a gold ``themes`` column.
    """

    analysis: RuleAnalysis
    sentences: int
    output: Path | None
    has_gold: bool


def label_files(
    inputs: Sequence[str | Path],
    taxonomy: Taxonomy,
    *,
    out: str | Path | None = None,
    text_column: str = "text",
    documents: bool = False,
    id_column: str | None = None,
    chunksize: int = 20_000,
    encoding: str | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> LabelRun:
    """Split, label and analyse documents or sentence tables, streaming in chunks.

    Parameters
    ----------
    inputs : sequence of str or Path
        ``.txt`` documents, folders of them, or tables (CSV, TSV, JSONL, Parquet).
    taxonomy : Taxonomy
        Taxonomy whose rules label the sentences.
    out : str or Path, default=None
        Where to write the labeled sentences (format from the extension); None writes nothing.
    text_column : str, default="text"
        Text column of tables.
    documents : bool, default=False
        Split each table row into sentences (``.txt`` inputs are always split).
    id_column : str, default=None
        Document id column of tables.
    chunksize : int, default=20000
        Sentences (table rows) per chunk.
    encoding : str, default=None
        Input encoding; None detects UTF-8 / UTF-16 from a byte-order mark.
    progress : callable, default=None
        Called after each chunk with (sentences so far, fraction of input read).

    Returns
    -------
    LabelRun
        The analysis and what was written.

    Raises
    ------
    DataError
        If an input is missing or malformed, the output path is an input, or gold labels are bad.

    Notes
    -----
    Output columns: ``doc_id``, ``sentence``, (``start``, ``end``), ``text``, the input's other
    columns, then ``themes``, ``primary`` and ``rules``. When the input has a gold ``themes``
    column it is kept as it is and the rules' labels are named ``rule_themes``, ``rule_primary``
    and ``rules``.
    """
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_output_path(out_path, inputs)
    matcher = RuleMatcher(taxonomy)
    analysis = RuleAnalysis(taxonomy)
    state = {"sentences": 0, "has_gold": False, "fraction": 0.0}

    def on_read(fraction: float) -> None:
        state["fraction"] = fraction

    frames = iter_sentence_frames(
        inputs, text_column=text_column, documents=documents, id_column=id_column,
        chunksize=chunksize, encoding=encoding, progress=on_read,
    )
    with table_sink(out_path) as sink:
        for frame in frames:
            labeled = _label_frame(frame, taxonomy, matcher, analysis, state)
            sink.write(labeled)
            state["sentences"] += len(frame)
            if progress is not None:
                progress(state["sentences"], state["fraction"])
    return LabelRun(analysis, state["sentences"], out_path, state["has_gold"])


def _label_frame(frame, taxonomy, matcher, analysis, state) -> pd.DataFrame:
    """Label one chunk, feed the analysis, and return the chunk with the rules' columns added."""
    texts = frame["text"].fillna("").astype(str).tolist()
    result = label_sentences(texts, taxonomy, matcher=matcher)
    gold = None
    if THEMES_COL in frame.columns:
        first_row = state["sentences"] + 2
        gold = parse_themes(frame[THEMES_COL], taxonomy, source="input", first_row=first_row)
        state["has_gold"] = True
    analysis.update(result, gold)
    prefix = "rule_" if gold is not None else ""
    labeled = frame.copy()
    labeled[f"{prefix}themes"] = [join_themes(t) for t in result.themes]
    labeled[f"{prefix}primary"] = result.primary
    labeled["rules"] = [join_themes(r) for r in result.rules_fired]
    return labeled


def check_output_path(out: Path, inputs: Sequence[str | Path]) -> None:
    """Refuse an output path of unknown type or one that is also an input."""
    file_format(out)
    target = out.resolve()
    for raw in inputs:
        if Path(raw).resolve() == target:
            raise DataError(f"{out}: the output path is also an input; choose another --out")

