"""``policy-themes predict``: themes of new text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import (
    check_engine,
    chosen_model,
    handle_errors,
    interruptible,
    jobs_or_cores,
    make_console,
    pipeline_allowed,
    print_findings,
    progress,
)
from policy_themes.cli.options import (
    ChunkSizeOption,
    DocColumnOption,
    EncodingOption,
    Engine,
    EngineOption,
    JobsOption,
    ModelSourceOption,
    PrintFormat,
    SchedulerOption,
    TextColumnOption,
)

TextsOption = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="SENTENCE",
        help="Sentences to predict; '-' reads a document from standard input.",
        show_default=False,
    ),
]
InputsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--input",
        "-i",
        metavar="FILE",
        help="Documents (.txt, split into sentences), folders or tables (repeatable).",
        readable=False,
    ),
]
TopKOption = Annotated[
    int,
    typer.Option("--top-k", "-k", metavar="K", min=1, help="Themes listed with probabilities."),
]
OutputFormatOption = Annotated[
    PrintFormat,
    typer.Option("--format", "-f", help="How to print the predictions (with no --out)."),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="PATH",
        help="Write predictions here (.csv, .tsv, .jsonl, .parquet).",
    ),
]
ExplainOption = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="Add the n-grams and rules behind each primary theme (reads the model's "
        "pipeline: from a model directory, its model.joblib, a pickle, so only with "
        "--model-dir given).",
    ),
]
DocumentsOption = Annotated[
    bool, typer.Option("--documents", help="Table rows are documents: split them.")
]


@app.command("predict")
@handle_errors
def predict_cmd(
    ctx: typer.Context,
    texts: TextsOption = None,
    inputs: InputsOption = None,
    model_dir: ModelSourceOption = Path("models/default"),
    top_k: TopKOption = 3,
    output_format: OutputFormatOption = PrintFormat.table,
    out: OutOption = None,
    explain: ExplainOption = False,
    text_column: TextColumnOption = "text",
    documents: DocumentsOption = False,
    doc_column: DocColumnOption = None,
    encoding: EncodingOption = None,
    chunk_size: ChunkSizeOption = 20_000,
    jobs: JobsOption = None,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
) -> None:
    """Predict themes for sentences, documents or tables with a trained model.

    Each row: the text, the primary theme and its probability, the theme set (every theme over
    its threshold, 'none' when nothing fits) and the top-k themes with probabilities.
    --engine dask predicts each --input file (globs allowed) on a Dask cluster and writes
    --out as a folder of Parquet parts, one per input file:

    \b
    policy-themes predict --engine dask -i 'speeches/*.parquet' --out predictions/

    Example:

    \b
    policy-themes predict "The two ministers discussed the new gas pipeline."
    """
    model_dir = chosen_model(ctx, model_dir)
    if inputs and engine == "local":  # the workers load the model while this process starts
        from policy_themes.parallel.workers import prepare_predict_workers

        prepare_predict_workers(model_dir, jobs_or_cores(jobs, note=False), inputs, documents)
    from policy_themes.model.theme_model import load_model

    sentences = _sentence_arguments(texts, inputs)
    _announce_compiling()
    check_engine(engine, scheduler)
    reading = dict(top_k=top_k, text_column=text_column, documents=documents,
                   doc_column=doc_column, encoding=encoding, chunk_size=chunk_size)
    if engine == "dask":
        _predict_dask(model_dir, inputs, out, sentences=sentences, scheduler=scheduler,
                      explain=explain, **reading)
        return
    # --explain needs the pipeline: a pickle in a model directory, read only from one named
    model = load_model(
        model_dir, trust_pickle=explain and pipeline_allowed(ctx, model_dir, "--explain")
    )
    if sentences == ["-"]:
        frame = _predict_stdin(model, top_k)
    elif inputs:
        frame = _predict_inputs(model, inputs, out, jobs=jobs, **reading)
        if frame is None:
            return
    else:
        frame = model.predict(sentences, top_k=top_k)
    if explain:
        frame = _add_explanations(model, frame)
    _write_or_print(frame, out, output_format)


# the first run's CPU seconds in benchmarks/results/cold_start.md (its wall time on an idle
# machine), and the cold start of the README's speed table
COMPILING_NOTE = ("Note: compiling the fast kernels once (about {seconds} s); later runs start "
                  "in about a second")
COMPILE_SECONDS = 6


def _announce_compiling() -> None:
    """One line on stderr, when it is a terminal (as the progress bars), if Numba's cache is
    cold: this run compiles the kernels first."""
    if not sys.stderr.isatty():
        return
    from policy_themes.kernels import first_use_compiles

    if first_use_compiles():
        typer.echo(COMPILING_NOTE.format(seconds=COMPILE_SECONDS), err=True)


def _sentence_arguments(texts, inputs) -> list[str]:
    """The sentences given as arguments, blank ones skipped with a warning."""
    from policy_themes.errors import DataError
    from policy_themes.io.decoding import check_text

    sentences = [check_text(s, f"text argument {i + 1}") for i, s in enumerate(texts or [])]
    blank = [s for s in sentences if not s.strip()]
    if blank:
        sentences = [s for s in sentences if s.strip()]
        if not sentences and not inputs:
            raise DataError("no text to predict: every sentence given is blank")
        typer.echo(
            f"Warning: skipped {len(blank)} blank sentence{'s' if len(blank) > 1 else ''}"
            " given as argument",
            err=True,
        )
    if not sentences and not inputs:
        raise DataError("give sentences, '-' for standard input, or --input FILE")
    if sentences and inputs:
        raise DataError("give either sentences or --input, not both")
    return sentences


def _predict_inputs(model, inputs, out, *, jobs, top_k, text_column, documents, doc_column,
                    encoding, chunk_size):
    """Predict the --input files; the predictions to print, or None when written to --out."""
    from policy_themes.workflows.prediction import predict_files

    progress_done = {"sentences": 0, "fraction": 0.0}
    with interruptible(progress_done, out), progress("Predicting", progress_done) as update:
        # without --out every prediction is printed, so keep them all (not a preview)
        run = predict_files(model, inputs, out=out, top_k=top_k, text_column=text_column,
                            documents=documents, doc_column=doc_column, encoding=encoding,
                            progress=update, preview_rows=sys.maxsize if out is None else 0,
                            chunksize=chunk_size, jobs=jobs_or_cores(jobs))
    print_findings(run.findings)
    if out is not None:
        typer.echo(f"{run.sentences:,} predictions written to {out}")
        return None
    return run.preview


def _write_or_print(frame, out, output_format) -> None:
    if out is None:
        _print_predictions(frame, output_format)
        return
    from policy_themes.io.formats import file_format
    from policy_themes.io.writers import table_sink
    from policy_themes.workflows.prediction import written_predictions

    with table_sink(out) as sink:
        sink.write(written_predictions(frame, file_format(out)))
    typer.echo(f"{len(frame):,} predictions written to {out}")


def _predict_dask(
    model_dir,
    inputs,
    out,
    *,
    sentences,
    top_k,
    text_column,
    documents,
    doc_column,
    encoding,
    chunk_size,
    scheduler,
    explain,
) -> None:
    from policy_themes.errors import DataError
    from policy_themes.model.theme_model import load_model
    from policy_themes.workflows.dask_engine import predict_dask, require_dask

    if sentences or not inputs or out is None:
        raise DataError(
            "--engine dask predicts files: give --input FILE (globs allowed) and --out FOLDER"
        )
    if explain:
        raise DataError("--explain does not apply to --engine dask")
    require_dask()
    model = load_model(model_dir)
    with progress("Predicting on Dask") as update:
        run = predict_dask(
            model,
            inputs,
            out,
            scheduler=scheduler,
            top_k=top_k,
            text_column=text_column,
            documents=documents,
            doc_column=doc_column,
            encoding=encoding,
            chunksize=chunk_size,
            progress=update,
        )
    typer.echo(f"{run.sentences:,} predictions written to {out}/ ({len(run.parts)} Parquet parts)")


def _predict_stdin(model, top_k: int):
    from policy_themes.io.decoding import decode_text
    from policy_themes.text.sentences import split_sentences

    text = decode_text(sys.stdin.buffer.read(), "standard input")
    sentences = [s.text for s in split_sentences(text, doc_id="stdin")]
    if not sentences:
        from policy_themes.errors import DataError

        raise DataError("no text to predict: standard input is empty")
    return model.predict(sentences, top_k=top_k)


def _add_explanations(model, frame):
    explanations = model.explain(frame["text"].tolist())
    frame = frame.copy()
    frame["why"] = [
        "; ".join(f"{name} ({weight:+.2f})" for name, weight in e["terms"]) for e in explanations
    ]
    frame["rules"] = [";".join(e["rules"]) for e in explanations]
    return frame


def _print_predictions(frame, output_format: str) -> None:
    from policy_themes.workflows.prediction import written_predictions

    if output_format == "csv":
        typer.echo(written_predictions(frame, "csv").to_csv(index=False), nl=False)
        return
    if output_format == "jsonl":
        records = written_predictions(frame, "jsonl")
        typer.echo(records.to_json(orient="records", lines=True, force_ascii=False), nl=False)
        return
    console = make_console()
    console.print(_prediction_table(frame, console.width))


# the table's columns, most important first; "themes" shows each theme with its probability
_TABLE_ORDER = ("text", "themes", "top_k", "primary", "probability")
_SPLIT_COLUMNS = {"themes", "theme_probabilities", "top_k", "rules"}


def _prediction_table(frame, width: int):
    """The predictions as a table as wide as ``width``: the text wraps at spaces, a theme and
    its probability are never split (one per line), and the columns that do not fit are left
    out, the least important first, and named under the table."""
    from rich.table import Table

    from policy_themes.cli.render import (
        MIN_TEXT_WIDTH,
        fitting_columns,
        left_out_caption,
    )

    cells = {name: [_cell(name, value) for value in frame[name]] for name in frame.columns}
    if "theme_probabilities" in cells:  # the same themes, with their probabilities
        cells["themes"] = cells.pop("theme_probabilities")
    order = [c for c in _TABLE_ORDER if c in cells] + [c for c in cells if c not in _TABLE_ORDER]
    widths = [max(len(line) for cell in [name, *cells[name]] for line in cell.splitlines() or [""])
              for name in order if name != "text"]
    others = [name for name in order if name != "text"]
    kept = [others[i] for i in fitting_columns(widths, width, text_width=MIN_TEXT_WIDTH)]
    table = Table(show_lines=True, header_style="bold", caption_justify="left",
                  caption=left_out_caption([c for c in others if c not in kept], width))
    shown = (["text"] if "text" in cells else []) + kept
    for name in shown:
        if name == "text":
            table.add_column(name, overflow="fold", min_width=MIN_TEXT_WIDTH, ratio=1)
        else:
            table.add_column(name, no_wrap=True)
    for row in range(len(frame)):
        table.add_row(*(cells[name][row] for name in shown))
    return table


def _cell(name: str, value) -> str:
    """A table cell: lists of pairs and ``;``-joined cells one item a line, 4 decimals."""
    from policy_themes.model.theme_model import format_top_k

    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        value = format_top_k(value)
    text = str(value)
    if name in _SPLIT_COLUMNS:
        return text.replace(";", "\n")
    if name == "why":
        return text.replace("; ", "\n")
    return text
