"""The ``policy-themes`` command line: a thin layer over the Python API."""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from .errors import PolicyThemesError

app = typer.Typer(
    name="policy-themes",
    help="Label foreign-policy sentences with policy themes: rules, a trained model, reports.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"policy-themes {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Show the version and exit."),
    ] = False,
) -> None:
    """Label foreign-policy sentences with policy themes: rules, a trained model, reports.

    Example: policy-themes label data/raw/foreign-policy-2017.txt
    """
    from .parallel import return_freed_memory

    return_freed_memory()

TaxonomyOption = Annotated[
    Path | None,
    typer.Option("--taxonomy", "-t", help="Taxonomy YAML file [default: the shipped taxonomy].",
                 readable=False),
]
TextColumnOption = Annotated[
    str, typer.Option("--text-column", help="Column holding the text in table inputs.")
]
LabelColumnOption = Annotated[
    str | None,
    typer.Option("--label-column", help="Column holding the labels (theme ids or names, ';' "
                                        "between several) [default: themes, else theme]."),
]
DocColumnOption = Annotated[
    str | None,
    typer.Option("--doc-column", help="Column naming each row's document: a document's "
                                      "sentences are one another's context [default: the "
                                      "first of doc_id, document_id, document, source, url "
                                      "present; sentence ids are never documents]."),
]
EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="Input text encoding [default: UTF-8, or UTF-16 with a BOM]."),
]
EngineOption = Annotated[
    str,
    typer.Option("--engine", help="local (processes on this machine) or dask (a Dask cluster: "
                                  "pip install 'policy-themes[dask]')."),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option("--scheduler", help="With --engine dask: address of the Dask scheduler, e.g. "
                                     "tcp://10.0.0.5:8786 [default: a local cluster of 2 "
                                     "workers]."),
]
JobsOption = Annotated[
    int | None,
    typer.Option("--jobs", "-j", help="Processes working on chunks in parallel (the output is "
                                      "the same for any number) [default: all cores]."),
]


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # a pipe or a file gets wide tables instead of rich's 80-column default
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, soft_wrap=False, width=width)


def handle_errors(func):
    """Turn the package's errors into one 'Error: ...' line on stderr and exit code 1.

    Warnings become one 'Warning: ...' line each; Ctrl-C exits with code 130.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return func(*args, **kwargs)
        except PolicyThemesError as exc:
            typer.echo(f"Error: {_one_line(str(exc))}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted: nothing was written.", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one 'Warning: ...' line on stderr (no source line, no path)."""
    typer.echo(f"Warning: {' '.join(str(message).split())}", err=True)


def _print_findings(findings) -> None:
    """What the run noticed in the data (rows skipped, duplicates, conflicts), on stderr."""
    for finding in findings:
        typer.echo(f"Warning: {_one_line(str(finding))}", err=True)


# characters str.splitlines() breaks at: a message quoting a cell or a column name that holds
# one must still be one line
_LINE_BREAKS = {ord(c): c.encode("unicode_escape").decode("ascii")
                for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(message: str) -> str:
    return message.translate(_LINE_BREAKS)


@contextlib.contextmanager
def _interruptible(done: dict, out: Path | None):
    """Turn Ctrl-C during a long run into one line saying how far it got, and exit code 130.

    ``done`` holds the ``sentences`` done so far and the ``fraction`` of the input read.
    """
    try:
        yield
    except KeyboardInterrupt:
        sentences, fraction = done["sentences"], done["fraction"]
        if sentences and fraction > 0:
            total = max(_round_estimate(sentences / fraction), sentences)
            where = f"after {sentences:,} of ~{total:,} sentences"
        elif sentences:
            where = f"after {sentences:,} sentences"
        else:
            where = "before the first sentences were done"
        target = f" to {out}" if out is not None else ""
        typer.echo(f"Interrupted {where}; nothing was written{target}", err=True)
        raise typer.Exit(130) from None


def _round_estimate(value: float) -> int:
    """Round to two significant digits: 297,312 -> 300,000."""
    digits = len(str(int(value))) - 2
    return int(round(value, -digits)) if digits > 0 else int(round(value))


@contextlib.contextmanager
def _progress(description: str, done: dict | None = None):
    """Show sentences done, share of input read, rate and ETA on stderr; yield the callback.

    The callback ``update(sentences, fraction)`` also records both in ``done`` when given (so
    an interruption can say how far the run got).
    """
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    display = Progress(
        TextColumn(description),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[sentences]:,} sentences · {task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=_console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with display:
        task = display.add_task(description, total=1.0, sentences=0, rate=0.0)

        def update(sentences: int, fraction: float) -> None:
            if done is not None:
                done.update(sentences=sentences, fraction=fraction)
            elapsed = display.tasks[task].elapsed or 1e-9
            display.update(task, completed=fraction, sentences=sentences,
                           rate=sentences / elapsed)

        yield update


@app.command("label")
@handle_errors
def label_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Documents (.txt), folders of them, or tables (CSV, TSV, JSONL, "
                            "Parquet; .gz allowed).", show_default=False, readable=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write labeled sentences here (.csv, .tsv, .jsonl, "
                                         ".parquet)."),
    ] = None,
    taxonomy_path: TaxonomyOption = None,
    text_column: TextColumnOption = "text",
    documents: Annotated[
        bool, typer.Option("--documents", help="Table rows are documents: split them into "
                                               "sentences.")
    ] = False,
    doc_column: DocColumnOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the rule analysis here (.md or .json).")
    ] = None,
    show_rules: Annotated[
        bool, typer.Option("--rules/--no-rules", help="Print the per-rule table.")
    ] = True,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Sentences per processing chunk.")
    ] = 20_000,
    encoding: EncodingOption = None,
    jobs: JobsOption = None,
) -> None:
    """Label sentences with the taxonomy's rules and print an analysis of the rules.

    Text documents are split into sentences; table rows are sentences unless --documents is
    given. When a table has a gold 'themes' column, the rules are scored against it
    (precision, recall and F1 per theme and per rule).

    Example: policy-themes label data/raw/foreign-policy-2017.txt --out labeled.csv
    """
    from .workers import prepare_label_workers

    # the workers' modules load while this starts
    prepare_label_workers(_jobs(jobs), inputs, documents)
    from .batch import label_files
    from .taxonomy import load_taxonomy

    if report is not None:
        _check_report_path(report)
    taxonomy = load_taxonomy(taxonomy_path)
    done = {"sentences": 0, "fraction": 0.0}
    with _interruptible(done, out), _progress("Labeling", done) as update:
        run = label_files(
            inputs, taxonomy, out=out, text_column=text_column, documents=documents,
            doc_column=doc_column, chunksize=chunk_size, encoding=encoding, progress=update,
            jobs=_jobs(jobs),
        )
    _print_findings(run.findings)
    _print_label_run(run, show_rules=show_rules)
    if report is not None:
        _write_report(run.analysis, report)
        typer.echo(f"Rule analysis written to {report}")
    if out is not None:
        typer.echo(f"{run.sentences:,} labeled sentences written to {out}")


def _check_report_path(report: Path) -> None:
    from .data import check_writable
    from .errors import DataError

    if report.suffix.lower() not in (".md", ".json"):
        raise DataError(f"{report}: the report must be .md or .json")
    check_writable(report)  # before the labeled sentences are written


def _write_report(analysis, report: Path) -> None:
    from .data import atomic_write_text

    text = analysis.to_json() if report.suffix.lower() == ".json" else analysis.to_markdown()
    atomic_write_text(report, text)


def _print_label_run(run, *, show_rules: bool = True) -> None:
    from .render import figures_table, frame_table

    console = _console()
    analysis = run.analysis
    console.print(figures_table(analysis.overall(), title="Rules: overall"))
    themes = analysis.theme_summary()
    console.print(frame_table(themes, title="Rules per theme"))
    if not show_rules:
        return
    rules = analysis.rule_summary()
    if run.has_gold:
        rules = rules[["theme", "fires", "coverage", "overlaps", "conflicts", "precision"]]
    console.print(frame_table(rules, title="Rules"))


ModelDirOption = Annotated[
    Path, typer.Option("--model-dir", "-m", help="The model directory.", readable=False)
]
ModelSourceOption = Annotated[
    Path, typer.Option("--model-dir", "-m", help="The model directory, or a shared .skops model "
                                                 "file (written by `policy-themes export`; a "
                                                 "directory holding model.skops but no "
                                                 "model.joblib loads its model.skops).",
                       readable=False)
]


@contextlib.contextmanager
def _stage_progress():
    """Show training stages (reading, cross-validation folds, fitting) on stderr; yield the
    ``update(stage, done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    display = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )
    with display:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = display.add_task(stage, total=total)
            display.update(tasks[stage], completed=done, total=total)

        yield update


def _jobs(jobs: int | None) -> int:
    """``--jobs`` as a number of processes: every core this process may run on by default
    (its CPU affinity, as the workers count them), not every core of the machine."""
    from .parallel import resolve_jobs

    return resolve_jobs(jobs)


@app.command("train")
@handle_errors
def train_cmd(
    data: Annotated[
        list[Path] | None,
        typer.Argument(help="Labeled tables (text + themes) [default: the shipped "
                            "data/labeled/sentences.csv and ungdc.csv]; with --weak, unlabeled "
                            "documents or "
                            "tables.", show_default=False, readable=False),
    ] = None,
    config_path: Annotated[
        Path | None, typer.Option("--config", "-c", help="Training config YAML [default: the "
                                                         "shipped configs/train.yaml].",
                                  readable=False)
    ] = None,
    taxonomy_path: TaxonomyOption = None,
    model_dir: ModelDirOption = Path("models/default"),
    weak: Annotated[
        bool, typer.Option("--weak", help="Train on the rules' labels of unlabeled input.")
    ] = False,
    documents: Annotated[
        bool, typer.Option("--documents", help="With --weak: table rows are documents.")
    ] = False,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
    doc_column: DocColumnOption = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the config's seed.")] = None,
    folds: Annotated[
        int | None, typer.Option("--folds", help="Cross-validation folds (0 skips it).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a pipeline parameter, e.g. --set clf__C=0.5 "
                                   "(repeatable)."),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Parallel cross-validation folds; with "
                                                      "--streaming, processes labeling and "
                                                      "hashing chunks [default: all cores].")
    ] = None,
    encoding: EncodingOption = None,
    streaming: Annotated[
        bool, typer.Option("--streaming", help="Train out of core, chunk by chunk: hashed word "
                                               "1-2-grams + rule votes and a linear model "
                                               "trained by minibatch Adagrad, for data bigger "
                                               "than memory (no --config, no "
                                               "cross-validation: a share of documents is "
                                               "held out instead).")
    ] = False,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="With --streaming: passes over the data.")
    ] = 1,
    holdout: Annotated[
        float, typer.Option("--holdout", min=0.0, max=0.99,
                            help="With --streaming: share of documents held out to choose "
                                 "thresholds and measure the model.")
    ] = 0.05,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="With --streaming: sentences read, "
                                                      "labeled and hashed together.")
    ] = 20_000,
    accurate: Annotated[
        bool, typer.Option("--accurate", help="Add sentence embeddings of each sentence and its "
                                              "context (what words mean, not only which): more "
                                              "accurate, hundreds of times slower to predict; "
                                              "needs pip install "
                                              "'policy-themes[embeddings]'.")
    ] = False,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
) -> None:
    """Train a theme model, cross-validate it and save it with its report.

    Cross-validation is grouped by document (--doc-column, or the first document column the
    data has); it measures the model and chooses a probability threshold per theme. The model
    directory gets model.joblib, model.json and the cross-validated report (report.md,
    report.json, confusion.png).
    --engine dask runs the cross-validation folds on a Dask cluster. --streaming trains in
    bounded memory on data of any size, e.g. the rules' labels of a whole archive:
    policy-themes train --streaming --weak corpus.csv.gz --documents -m models/archive

    Example: policy-themes train --model-dir models/default
    """
    from .config import load_train_config, parse_override

    _check_engine(engine, scheduler)
    params = dict(parse_override(o) for o in overrides or [])
    if streaming:
        _train_streaming(data, taxonomy_path=taxonomy_path, model_dir=model_dir, weak=weak,
                         documents=documents, text_column=text_column,
                         label_column=label_column, encoding=encoding, epochs=epochs,
                         holdout=holdout, chunk_size=chunk_size, params=params,
                         seed=seed or 0, jobs=jobs, refused={"--config": config_path,
                                                             "--folds": folds,
                                                             "--engine dask": engine == "dask",
                                                             "--accurate": accurate})
        return
    config = load_train_config(config_path)
    if accurate:
        config = config.with_embeddings()
    config = config.with_overrides(seed=seed, folds=folds, params=params)
    with _engine_backend(engine, scheduler), _stage_progress() as update:
        from .training import train

        result = train(data, config=config, taxonomy=taxonomy_path, model_dir=model_dir,
                       weak=weak, text_column=text_column, label_column=label_column,
                       documents=documents, doc_column=doc_column,
                       encoding=encoding, n_jobs=_jobs(jobs), progress=update)
    _print_findings(result.findings)
    _print_train_summary(result, model_dir)


def _check_engine(engine: str, scheduler: str | None) -> None:
    from .errors import ConfigError

    if engine not in ("local", "dask"):
        raise ConfigError(f"--engine must be local or dask, got {engine!r}")
    if scheduler is not None and engine != "dask":
        raise ConfigError("--scheduler needs --engine dask")


def _engine_backend(engine: str, scheduler: str | None):
    """joblib's Dask backend on a cluster for --engine dask, else nothing."""
    import contextlib

    if engine != "dask":
        return contextlib.nullcontext()
    from .dask_engine import dask_backend

    return dask_backend(scheduler)


def _train_streaming(data, *, taxonomy_path, model_dir, weak, documents, text_column,
                     label_column, encoding, epochs, holdout, chunk_size, params, seed, jobs,
                     refused) -> None:
    from .errors import DataError
    from .render import figures_table
    from .streaming import train_streaming

    given = [name for name, value in refused.items() if value not in (None, False)]
    if given:
        raise DataError(f"{given[0]} does not apply to --streaming (it trains hashed features "
                        "with minibatch Adagrad and measures the model on held-out documents)")
    if not data:
        raise DataError("--streaming needs the training data as arguments, e.g. "
                        "policy-themes train --streaming --weak corpus.csv.gz --documents")
    with _stage_progress() as update:
        result = train_streaming(data, taxonomy=taxonomy_path, model_dir=model_dir, weak=weak,
                                 text_column=text_column, label_column=label_column,
                                 documents=documents, encoding=encoding, epochs=epochs,
                                 chunksize=chunk_size, holdout=holdout, params=params,
                                 seed=seed, jobs=_jobs(jobs), progress=update)
    figures = {"training sentences": result.n_sentences, "held-out sentences": result.n_holdout,
               "weak labels": result.weak, "epochs": epochs}
    metrics = result.holdout_metrics
    if metrics is not None:
        figures.update({
            "held-out accuracy": _with_ci(metrics["accuracy"], metrics.get("accuracy_ci")),
            "held-out macro-F1": _with_ci(metrics["macro_f1"], metrics.get("macro_f1_ci")),
            "held-out theme-set micro-F1": metrics.get("set_micro_f1"),
        })
    figures["model directory"] = str(model_dir)
    _console().print(figures_table(figures, title=f"Trained {model_dir.name} (streaming)"))
    if metrics is not None:
        typer.echo(f"Report: {model_dir / 'report.md'}")


def _print_train_summary(result, model_dir: Path) -> None:
    from .render import figures_table

    figures = {"training sentences": result.n_sentences,
               "weak labels": result.weak}
    metrics = result.cv_metrics
    if metrics is not None:
        figures.update({
            "cv accuracy": _with_ci(metrics["accuracy"], metrics.get("accuracy_ci")),
            "cv macro-F1": _with_ci(metrics["macro_f1"], metrics.get("macro_f1_ci")),
            "cv theme-set micro-F1": metrics.get("set_micro_f1"),
            "cv top-3 accuracy": metrics.get("top3_accuracy"),
        })
    figures["model directory"] = str(model_dir)
    _console().print(figures_table(figures, title=f"Trained {model_dir.name}"))
    if metrics is None:
        typer.echo("No cross-validation (folds: 0): thresholds are the config's default.")
    else:
        typer.echo(f"Report: {model_dir / 'report.md'}")


def _with_ci(value: float, interval) -> str:
    if not interval or interval[0] is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


@app.command("predict")
@handle_errors
def predict_cmd(
    texts: Annotated[
        list[str] | None,
        typer.Argument(help="Sentences to predict; '-' reads a document from standard input.",
                       show_default=False),
    ] = None,
    inputs: Annotated[
        list[Path] | None,
        typer.Option("--input", "-i", help="Documents (.txt, split into sentences), folders or "
                                           "tables (repeatable).", readable=False),
    ] = None,
    model_dir: ModelSourceOption = Path("models/default"),
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Themes listed with "
                                                                    "probabilities.")] = 3,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="table, csv or jsonl (printed output).")
    ] = "table",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write predictions here (.csv, .tsv, "
                                                      ".jsonl, .parquet).")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add the n-grams and rules behind each primary "
                                             "theme.")
    ] = False,
    text_column: TextColumnOption = "text",
    documents: Annotated[
        bool, typer.Option("--documents", help="Table rows are documents: split them.")
    ] = False,
    doc_column: DocColumnOption = None,
    encoding: EncodingOption = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Sentences per processing chunk.")
    ] = 20_000,
    jobs: JobsOption = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
) -> None:
    """Predict themes for sentences, documents or tables with a trained model.

    Each row: the text, the primary theme and its probability, the theme set (every theme over
    its threshold, 'none' when nothing fits) and the top-k themes with probabilities.
    --engine dask predicts each --input file (globs allowed) on a Dask cluster and writes
    --out as a folder of Parquet parts, one per input file:
    policy-themes predict --engine dask -i 'speeches/*.parquet' --out predictions/

    Example: policy-themes predict "The two ministers discussed the new gas pipeline."
    """
    from .errors import DataError

    if inputs and engine == "local":  # the workers load the model while this process starts
        from .workers import prepare_predict_workers

        prepare_predict_workers(model_dir, _jobs(jobs), inputs, documents)
    from .prediction import format_top_k, load_model, predict_files

    if output_format not in ("table", "csv", "jsonl"):
        raise DataError(f"--format must be table, csv or jsonl, got {output_format!r}")
    sentences = list(texts or [])
    blank = [s for s in sentences if not s.strip()]
    if blank:
        sentences = [s for s in sentences if s.strip()]
        if not sentences and not inputs:
            raise DataError("no text to predict: every sentence given is blank")
        typer.echo(f"Warning: skipped {len(blank)} blank sentence{'s' if len(blank) > 1 else ''}"
                   " given as argument", err=True)
    if not sentences and not inputs:
        raise DataError("give sentences, '-' for standard input, or --input FILE")
    _check_engine(engine, scheduler)
    if engine == "dask":
        _predict_dask(model_dir, inputs, out, sentences=sentences, top_k=top_k,
                      text_column=text_column, documents=documents, doc_column=doc_column,
                      encoding=encoding,
                      chunk_size=chunk_size, scheduler=scheduler, explain=explain)
        return
    model = load_model(model_dir)
    if sentences == ["-"]:
        frame = _predict_stdin(model, top_k)
    elif inputs:
        if sentences:
            raise DataError("give either sentences or --input, not both")
        progress_done = {"sentences": 0, "fraction": 0.0}
        with _interruptible(progress_done, out), \
                _progress("Predicting", progress_done) as update:
            # without --out every prediction is printed, so keep them all (not a preview)
            run = predict_files(model, inputs, out=out, top_k=top_k, text_column=text_column,
                                documents=documents, doc_column=doc_column,
                                encoding=encoding, progress=update,
                                preview_rows=sys.maxsize if out is None else 0,
                                chunksize=chunk_size, jobs=_jobs(jobs))
        _print_findings(run.findings)
        if out is not None:
            typer.echo(f"{run.sentences:,} predictions written to {out}")
            return
        frame = run.preview
    else:
        frame = model.predict(sentences, top_k=top_k)
        frame["top_k"] = [format_top_k(pairs) for pairs in frame["top_k"]]
    if explain:
        frame = _add_explanations(model, frame)
    if out is not None:
        from .data import table_sink

        with table_sink(out) as sink:
            sink.write(frame)
        typer.echo(f"{len(frame):,} predictions written to {out}")
        return
    _print_predictions(frame, output_format)


def _predict_dask(model_dir, inputs, out, *, sentences, top_k, text_column, documents,
                  doc_column, encoding, chunk_size, scheduler, explain) -> None:
    from .dask_engine import predict_dask, require_dask
    from .errors import DataError
    from .prediction import load_model

    if sentences or not inputs or out is None:
        raise DataError("--engine dask predicts files: give --input FILE (globs allowed) and "
                        "--out FOLDER")
    if explain:
        raise DataError("--explain does not apply to --engine dask")
    require_dask()
    model = load_model(model_dir)
    with _progress("Predicting on Dask") as update:
        run = predict_dask(model, inputs, out, scheduler=scheduler, top_k=top_k,
                           text_column=text_column, documents=documents,
                           doc_column=doc_column, encoding=encoding,
                           chunksize=chunk_size, progress=update)
    typer.echo(f"{run.sentences:,} predictions written to {out}/ ({len(run.parts)} Parquet "
               "parts)")


def _predict_stdin(model, top_k: int):
    from .prediction import format_top_k
    from .sentences import split_sentences

    text = sys.stdin.read()
    sentences = [s.text for s in split_sentences(text, doc_id="stdin")]
    if not sentences:
        from .errors import DataError

        raise DataError("no text to predict: standard input is empty")
    frame = model.predict(sentences, top_k=top_k)
    frame["top_k"] = [format_top_k(pairs) for pairs in frame["top_k"]]
    return frame


def _add_explanations(model, frame):
    explanations = model.explain(frame["text"].tolist())
    frame = frame.copy()
    frame["why"] = ["; ".join(f"{name} ({weight:+.2f})" for name, weight in e["terms"])
                    for e in explanations]
    frame["rules"] = [";".join(e["rules"]) for e in explanations]
    return frame


def _print_predictions(frame, output_format: str) -> None:
    if output_format == "csv":
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    if output_format == "jsonl":
        typer.echo(frame.to_json(orient="records", lines=True, force_ascii=False), nl=False)
        return
    from rich.table import Table

    table = Table(show_lines=True, header_style="bold")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    _console().print(table)


@app.command("evaluate")
@handle_errors
def evaluate_cmd(
    data: Annotated[Path, typer.Argument(help="Labeled table: text + themes (or theme).",
                                         show_default=False, readable=False)],
    model_dir: ModelSourceOption = Path("models/default"),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report directory [default: "
                                                      "reports/<model>-<data>].")
    ] = None,
    taxonomy_path: TaxonomyOption = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
    doc_column: DocColumnOption = None,
    n_boot: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for "
                                                                   "the 95% intervals.")] = 1000,
    encoding: EncodingOption = None,
) -> None:
    """Evaluate a model on labeled sentences and write an accuracy report.

    The report directory gets report.md (a person reads it), report.json and confusion.png:
    accuracy, macro/weighted F1 with 95% bootstrap intervals, per-theme figures, top-3
    accuracy, theme-set metrics, calibration, the most frequent confusions with examples, and
    the same figures for the rules alone and the majority class.

    Example: policy-themes evaluate ../shared/eval/real-dev.csv
    """
    from .evaluation import evaluate
    from .prediction import load_model
    from .taxonomy import load_taxonomy

    model = load_model(model_dir)
    taxonomy = load_taxonomy(taxonomy_path) if taxonomy_path is not None else None
    out = out or Path("reports") / f"{model.name}-{data.name.split('.')[0]}"
    made_reports = out.parent == Path("reports") and not out.parent.exists()
    if made_reports:
        out.parent.mkdir()
    try:
        report = evaluate(model, data, taxonomy=taxonomy, text_column=text_column,
                          label_column=label_column, doc_column=doc_column,
                          encoding=encoding, out_dir=out,
                          n_boot=n_boot)
    except BaseException:
        if made_reports:  # a failed run leaves nothing behind, not even an empty reports/
            with contextlib.suppress(OSError):
                out.parent.rmdir()
        raise
    _print_findings(report.findings)
    _print_eval_summary(report)
    typer.echo(f"Report written to {out}/report.md")


def _print_eval_summary(report) -> None:
    from rich.table import Table

    systems = {"model": report.metrics, **report.baselines}
    table = Table(title=report.title, title_justify="left", header_style="bold")
    table.add_column("figure")
    for name in systems:
        table.add_column(name, justify="right")
    rows = [("accuracy", "accuracy_ci"), ("macro_f1", "macro_f1_ci"), ("weighted_f1", None),
            ("top3_accuracy", None), ("set_micro_f1", None), ("subset_accuracy", None),
            ("brier", None), ("ece", None)]
    for key, ci in rows:
        cells = []
        for metrics in systems.values():
            value = metrics.get(key)
            cells.append("–" if value is None or value != value else
                         _with_ci(value, metrics.get(ci) if ci else None))
        table.add_row(key.replace("_", " "), *cells)
    _console().print(table)


@app.command("info")
@handle_errors
def info_cmd(model_dir: ModelSourceOption = Path("models/default")) -> None:
    """Show what a model holds: metadata, metrics and thresholds.

    The model is a model directory or a shared .skops file; a .skops file is checked against
    the allow-list of types and loaded to read it.

    Example: policy-themes info --model-dir models/default
    """
    from .render import figures_table
    from .sharing import read_model_meta, shared_model_file

    meta = read_model_meta(model_dir)
    shared_file = shared_model_file(model_dir)
    data = meta.get("training_data", {})
    taxonomy = meta.get("taxonomy", {})
    figures = {
        "model file" if shared_file else "model directory": str(shared_file or model_dir),
        "created": meta.get("created"),
        "policy-themes": meta.get("package_version"),
        "scikit-learn": meta.get("sklearn_version"),
        "taxonomy": f"{taxonomy.get('name')} ({len(taxonomy.get('ids', []))} ids, "
                    f"{str(taxonomy.get('fingerprint', ''))[:12]})",
        "training data": ", ".join(data.get("files", [])),
        "training sentences": data.get("sentences"),
        "weak labels": data.get("weak_labels"),
        "features": ", ".join(k for k, v in meta.get("config", {}).get("features", {}).items()
                              if v),
    }
    if shared_file:
        shared = meta.get("shared") or {}
        figures["format"] = f"skops {shared.get('skops_version')} (no pickle)"
        figures["exported"] = shared.get("exported")
        figures["sha256 source model.joblib"] = str(shared.get("source_sha256", ""))[:16] + "…"
    else:
        for name, digest in meta.get("sha256", {}).items():
            figures[f"sha256 {name}"] = digest[:16] + "…"
        figures["predicts with"] = ("model.npz (NumPy)" if "model.npz" in meta.get("sha256", {})
                                    else "model.joblib (scikit-learn)")
    for key, value in (meta.get("cv_metrics") or {}).items():
        if not key.endswith("_ci"):
            figures[f"cv {key}"] = value
    console = _console()
    console.print(figures_table(figures, title="Model"))
    thresholds = meta.get("thresholds") or {}
    if thresholds:
        console.print(figures_table(thresholds, title="Theme thresholds", humanize=False))


@app.command("export")
@handle_errors
def export_cmd(
    model_dir: ModelDirOption = Path("models/default"),
    share_format: Annotated[
        str, typer.Option("--format", "-f", help="The sharing format (skops is the only one).")
    ] = "skops",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The file to write, ending in .skops "
                                                      "[default: <model-dir>/model.skops].")
    ] = None,
) -> None:
    """Export a trained model to one .skops file that others can load without running its code.

    model.joblib is a pickle: loading one runs whatever code its author put in it. The .skops
    file (skops.io) holds the same fitted pipeline and its model.json metadata as data; predict,
    evaluate and info load it with --model-dir FILE.skops, refusing any file that names a type
    outside policy-themes' allow-list. Needs skops: pip install "policy-themes[share]".

    Example: policy-themes export --model-dir models/default --out default.skops
    """
    from .sharing import export_model

    path = export_model(model_dir, out, format=share_format)
    size = path.stat().st_size / 1e6
    typer.echo(f"Exported {model_dir} to {path} ({size:.1f} MB)")


from .commands_loop import register as _register_loop  # noqa: E402

_register_loop(app)
