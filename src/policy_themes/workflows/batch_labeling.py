"""Label whole files and folders in chunks: read, label, analyse and write as the input streams.

:func:`map_read_chunks` is the loop that ``label`` and ``predict`` share: chunks of the input go
to the worker processes and come back in order, with the share of the input they complete.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from policy_themes.errors import DataError
from policy_themes.io.formats import file_format
from policy_themes.io.labels import DataFinding, blank_rows_finding, join_themes, parse_themes
from policy_themes.io.sentence_frames import iter_sentence_frames, sentence_frame
from policy_themes.io.tables import THEMES_COL
from policy_themes.io.writers import free_names, table_sink
from policy_themes.parallel.pool import map_chunks
from policy_themes.rules.analysis import RuleAnalysis
from policy_themes.rules.labeling import RuleMatcher, label_sentences
from policy_themes.rules.taxonomy import Taxonomy

if TYPE_CHECKING:
    from pandas import DataFrame

__all__ = ["LabelRun", "label_files", "map_read_chunks", "check_output_path",
           "check_report_path", "analysis_text", "no_text_error"]


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
    findings : list of DataFinding
        What was skipped: table rows with blank or missing text, empty documents.
    preview : DataFrame or None
        The first labeled sentences (``preview_rows`` of :func:`label_files`), as written.
    """

    analysis: RuleAnalysis
    sentences: int
    output: Path | None
    has_gold: bool
    findings: list[DataFinding] = field(default_factory=list)
    preview: DataFrame | None = None


def label_files(
    inputs: Sequence[str | Path],
    taxonomy: Taxonomy,
    *,
    out: str | Path | None = None,
    text_column: str = "text",
    documents: bool = False,
    doc_column: str | None = None,
    chunksize: int = 20_000,
    encoding: str | None = None,
    progress: Callable[[int, float], None] | None = None,
    jobs: int | None = 1,
    report: str | Path | None = None,
    preview_rows: int = 0,
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
    doc_column : str, default=None
        Column naming each row's document (``doc_id`` of the output); None takes the first of
        ``doc_id``, ``document_id``, ``document``, ``source``, ``url`` present
        (:func:`~policy_themes.io.sentence_frames.find_document_column`).
    chunksize : int, default=20000
        Sentences (table rows) per chunk.
    encoding : str, default=None
        Input encoding; None detects UTF-8 / UTF-16 from a byte-order mark.
    progress : callable, default=None
        Called after each chunk with (sentences so far, fraction of input read).
    jobs : int, default=1
        Processes that label chunks in parallel (None or 0: every core); the output is the
        same for any number (see :func:`~policy_themes.parallel.pool.map_chunks`).
    report : str or Path, default=None
        Also write the rule analysis here (``.md``: Markdown, ``.json``); it and ``out`` are
        written as a pair: neither is in place unless both could be written.
    preview_rows : int, default=0
        Labeled sentences kept in ``LabelRun.preview`` (the first ones).

    Returns
    -------
    LabelRun
        The analysis and what was written.

    Raises
    ------
    DataError
        If an input is missing or malformed, the output path is an input, the report is not
        ``.md`` or ``.json``, an output cannot be written, gold labels are bad, or there is no
        text at all to label.

    Notes
    -----
    Output columns: ``doc_id``, ``sentence``, (``start``, ``end``), ``text``, the input's other
    columns, then ``themes``, ``primary`` and ``rules``. When the input has a gold ``themes``
    column it is kept as it is and the rules' labels are named ``rule_themes``, ``rule_primary``
    and ``rules``. Table rows whose text is blank or missing are skipped and reported in
    ``findings``; nothing is written if the run does not complete.
    """
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_output_path(out_path, inputs)
    if report is not None:
        check_report_path(report)
    analysis = RuleAnalysis(taxonomy)
    state = {"sentences": 0, "has_gold": False, "fraction": 0.0}

    skipped: dict[str, list[int]] = {}

    def on_read(fraction: float) -> None:
        state["fraction"] = fraction

    # documents of a table reach the workers unsplit: they split them
    frames = iter_sentence_frames(
        inputs, text_column=text_column, documents=documents, doc_column=doc_column,
        chunksize=chunksize, encoding=encoding, progress=on_read,
        on_skip=lambda source, rows: skipped.setdefault(source, []).extend(rows), split=False,
    )
    previews: list[DataFrame] = []
    with table_sink(out_path) as sink:
        for chunk, (labeled, counters, has_gold), share in map_read_chunks(
                _LabelChunk(taxonomy), frames, jobs=jobs, share_read=lambda: state["fraction"]):
            labeled = _with_label_columns(chunk, labeled)
            analysis.add_counters(counters)
            state["has_gold"] = state["has_gold"] or has_gold
            sink.write(labeled)
            if sum(map(len, previews)) < preview_rows:
                previews.append(labeled.head(preview_rows))
            state["sentences"] += len(labeled)
            if progress is not None:
                progress(state["sentences"], share)
        blank = blank_rows_finding(skipped)
        if not state["sentences"]:
            raise no_text_error("label", inputs, blank)
        if report is not None:
            sink.add_text(report, analysis_text(analysis, report))
    return LabelRun(analysis, state["sentences"], out_path, state["has_gold"],
                    [blank] if blank else [], _preview(previews, preview_rows))


def _with_label_columns(chunk: DataFrame, labeled) -> DataFrame:
    """A worker's labeled chunk as a frame: a sentence chunk comes back as the new columns
    only, without the text, to be set beside the chunk read."""
    if not isinstance(labeled, dict):
        return labeled
    frame = chunk.copy()
    for name, values in labeled.items():
        frame[name] = values
    return frame


def _preview(previews: list[DataFrame], rows: int) -> DataFrame | None:
    """The first ``rows`` labeled sentences, or None when none were kept."""
    if not previews:
        return None
    import pandas as pd

    return pd.concat(previews, ignore_index=True).head(rows)


def check_report_path(report: str | Path) -> Path:
    """Refuse, before any work, a rule-analysis report that cannot be written.

    Raises
    ------
    DataError
        If it is not ``.md`` or ``.json``, or its folder is missing.
    """
    from policy_themes.io.writers import check_writable

    report = Path(report)
    if report.suffix.lower() not in (".md", ".json"):
        raise DataError(f"{report}: the report must be .md or .json")
    return check_writable(report)


def analysis_text(analysis: RuleAnalysis, report: str | Path) -> str:
    """The rule analysis as the report's extension asks: JSON for ``.json``, else Markdown."""
    return analysis.to_json() if Path(report).suffix.lower() == ".json" else \
        analysis.to_markdown()


def map_read_chunks(task: Callable, chunks: Iterable, *, jobs: int | None,
                    share_read: Callable[[], float]) -> Iterator[tuple[object, object, float]]:
    """:func:`~map_chunks` over the chunks read from the inputs, yielding
    each chunk with its result and the share of the input done.

    Parameters
    ----------
    task : callable
        Applied to each chunk (see :func:`~policy_themes.parallel.pool.map_chunks`).
    chunks : iterable
        Chunks of :func:`~policy_themes.io.sentence_frames.iter_sentence_frames` (sentence frames or
        :class:`~policy_themes.io.sentence_frames.DocumentRows`).
    jobs : int or None
        Worker processes.
    share_read : callable
        The share of the input read so far (0 to 1).

    Yields
    ------
    (chunk, result, share)
        ``share`` is ``share_read()`` scaled to the chunks done among those read: the chunks
        in flight were read but are not done.
    """
    in_flight: deque = deque()
    rows = {"read": 0, "done": 0}  # sentences, or documents of unsplit chunks

    def counted():
        for chunk in chunks:
            rows["read"] += len(chunk)
            in_flight.append(chunk)
            yield chunk

    for result in map_chunks(task, counted(), jobs=jobs):
        chunk = in_flight.popleft()
        rows["done"] += len(chunk)
        yield chunk, result, share_read() * rows["done"] / max(rows["read"], 1)


class _LabelChunk:
    """Label one chunk: the rules' columns to add to it, the chunk's rule analysis
    (:meth:`~policy_themes.rules.analysis.RuleAnalysis.counters`: counted here, in the worker, not
    in the process that writes) and whether it had gold themes.

    A chunk of sentences gives the new columns only (the caller has the rest); a chunk of
    documents (:class:`DocumentRows`) is split here and comes back as the
    labeled sentences. Picklable, so a worker process receives it once and compiles the rules
    once.
    """

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self._matcher = None

    def __getstate__(self):
        return {**self.__dict__, "_matcher": None}

    def __call__(self, chunk) -> tuple[dict | DataFrame, dict, bool]:
        frame = sentence_frame(chunk)
        if self._matcher is None:
            self._matcher = RuleMatcher(self.taxonomy)
        texts = frame["text"].fillna("").astype(str).tolist()
        result = label_sentences(texts, self.taxonomy, matcher=self._matcher)
        gold = None
        if THEMES_COL in frame.columns:
            # the index is each row's row number in the file
            gold = parse_themes(frame[THEMES_COL], self.taxonomy,
                                source=frame.attrs.get("source", "input"),
                                rows=frame.index.tolist())
        prefix = "rule_" if gold is not None else ""
        columns = {f"{prefix}themes": [join_themes(t) for t in result.themes],
                   f"{prefix}primary": result.primary,
                   "rules": [join_themes(r) for r in result.rules_fired]}
        # never overwrite a column of the input: such a name gets the prefix rule_
        names = free_names(frame.columns, columns, "rule_")
        columns = {names[name]: values for name, values in columns.items()}
        if frame is not chunk:  # the sentences split here are this call's own
            for name, values in columns.items():
                frame[name] = values
            columns = frame
        analysis = RuleAnalysis(self.taxonomy)
        analysis.update(result, gold)
        return columns, analysis.counters(), gold is not None


def no_text_error(verb: str, inputs: Sequence[str | Path],
                  blank: DataFinding | None) -> DataError:
    """The error for a run that found no sentence at all in its inputs."""
    if blank is not None:
        return DataError(f"no text to {verb}: {blank.message}")
    names = ", ".join(str(p) for p in list(inputs)[:3]) + (" …" if len(inputs) > 3 else "")
    return DataError(f"{names}: no text to {verb}")


def check_output_path(out: Path, inputs: Sequence[str | Path]) -> None:
    """Refuse an output path of unknown type or one that is also an input."""
    file_format(out)
    target = out.resolve()
    for raw in inputs:
        if Path(raw).resolve() == target:
            raise DataError(f"{out}: the output path is also an input; choose another --out")

