"""The ``policy-themes`` command line: a thin layer over the Python API."""

from __future__ import annotations

import functools
import sys
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

TaxonomyOption = Annotated[
    Path | None,
    typer.Option("--taxonomy", "-t", help="Taxonomy YAML file [default: the shipped taxonomy]."),
]
TextColumnOption = Annotated[
    str, typer.Option("--text-column", help="Column holding the text in table inputs.")
]
LabelColumnOption = Annotated[
    str | None,
    typer.Option("--label-column", help="Column holding the labels (theme ids or names, ';' "
                                        "between several) [default: themes, else theme]."),
]
EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="Input text encoding [default: UTF-8, or UTF-16 with a BOM]."),
]


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # a pipe or a file gets wide tables instead of rich's 80-column default
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, soft_wrap=False, width=width)


def handle_errors(func):
    """Turn the package's errors into one 'Error: ...' line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PolicyThemesError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted: nothing was written.", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _progress(description: str):
    """A rich progress display on stderr: sentences done, share of input read, rate and ETA."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
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


@app.command("label")
@handle_errors
def label_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Documents (.txt), folders of them, or tables (CSV, TSV, JSONL, "
                            "Parquet; .gz allowed).", show_default=False),
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
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Document id column of table inputs.")
    ] = None,
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
) -> None:
    """Label sentences with the taxonomy's rules and print an analysis of the rules.

    Text documents are split into sentences; table rows are sentences unless --documents is
    given. When a table has a gold 'themes' column, the rules are scored against it
    (precision, recall and F1 per theme and per rule).

    Example: policy-themes label data/raw/foreign-policy-2017.txt --out labeled.csv
    """
    from .analysis import RuleAnalysis  # noqa: F401  (imported for its cost up front)
    from .batch import label_files
    from .taxonomy import load_taxonomy

    if report is not None:
        _check_report_path(report)
    taxonomy = load_taxonomy(taxonomy_path)
    with _progress("Labeling") as progress:
        task = progress.add_task("label", total=1.0, sentences=0, rate=0.0)

        def update(sentences: int, fraction: float) -> None:
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, completed=fraction, sentences=sentences,
                            rate=sentences / elapsed)

        run = label_files(
            inputs, taxonomy, out=out, text_column=text_column, documents=documents,
            id_column=id_column, chunksize=chunk_size, encoding=encoding, progress=update,
        )
    _print_label_run(run)
    if report is not None:
        _write_report(run.analysis, report)
        typer.echo(f"Rule analysis written to {report}")
    if out is not None:
        typer.echo(f"{run.sentences:,} labeled sentences written to {out}")


def _check_report_path(report: Path) -> None:
    from .errors import DataError

    if report.suffix.lower() not in (".md", ".json"):
        raise DataError(f"{report}: the report must be .md or .json")


def _write_report(analysis, report: Path) -> None:
    from .data import atomic_write_text

    text = analysis.to_json() if report.suffix.lower() == ".json" else analysis.to_markdown()
    atomic_write_text(report, text)


def _print_label_run(run) -> None:
    from .render import figures_table, frame_table

    console = _console()
    analysis = run.analysis
    console.print(figures_table(analysis.overall(), title="Rules: overall"))
    themes = analysis.theme_summary()
    console.print(frame_table(themes, title="Rules per theme"))
    rules = analysis.rule_summary()
    if run.has_gold:
        rules = rules[["theme", "fires", "coverage", "overlaps", "conflicts", "precision"]]
    console.print(frame_table(rules, title="Rules"))


ModelDirOption = Annotated[
    Path, typer.Option("--model-dir", "-m", help="The model directory.")
]
ModelSourceOption = Annotated[
    Path, typer.Option("--model-dir", "-m", help="The model directory, or a shared .skops model "
                                                 "file (written by `policy-themes export`; a "
                                                 "directory holding model.skops but no "
                                                 "model.joblib loads its model.skops).")
]


def _stage_progress():
    """A rich progress display for training stages (reading, cross-validation folds, fitting)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )


def _jobs(jobs: int | None) -> int:
    import os

    return jobs if jobs and jobs > 0 else (os.cpu_count() or 1)


@app.command("train")
@handle_errors
def train_cmd(
    data: Annotated[
        list[Path] | None,
        typer.Argument(help="Labeled tables (text + themes) [default: the shipped "
                            "data/labeled/sentences.csv]; with --weak, unlabeled documents or "
                            "tables.", show_default=False),
    ] = None,
    config_path: Annotated[
        Path | None, typer.Option("--config", "-c", help="Training config YAML [default: the "
                                                         "shipped configs/train.yaml].")
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
        int | None, typer.Option("--jobs", "-j", help="Parallel cross-validation folds "
                                                      "[default: all cores].")
    ] = None,
    encoding: EncodingOption = None,
) -> None:
    """Train a theme model, cross-validate it and save it with its report.

    Cross-validation is grouped by document (doc_id) when the data has one; it measures the
    model and chooses a probability threshold per theme. The model directory gets model.joblib,
    model.json and the cross-validated report (report.md, report.json, confusion.png).

    Example: policy-themes train --model-dir models/default
    """
    from .config import load_train_config, parse_override
    from .training import train

    config = load_train_config(config_path).with_overrides(
        seed=seed, folds=folds, params=dict(parse_override(o) for o in overrides or []))
    with _stage_progress() as progress:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        result = train(data, config=config, taxonomy=taxonomy_path, model_dir=model_dir,
                       weak=weak, text_column=text_column, label_column=label_column,
                       documents=documents,
                       encoding=encoding, n_jobs=_jobs(jobs), progress=update)
    _print_train_summary(result, model_dir)


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
                                           "tables (repeatable)."),
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
    encoding: EncodingOption = None,
) -> None:
    """Predict themes for sentences, documents or tables with a trained model.

    Each row: the text, the primary theme and its probability, the theme set (every theme over
    its threshold, 'none' when nothing fits) and the top-k themes with probabilities.

    Example: policy-themes predict "The two ministers discussed the new gas pipeline."
    """
    from .errors import DataError
    from .prediction import load_model, predict_files

    if output_format not in ("table", "csv", "jsonl"):
        raise DataError(f"--format must be table, csv or jsonl, got {output_format!r}")
    sentences = list(texts or [])
    if not sentences and not inputs:
        raise DataError("give sentences, '-' for standard input, or --input FILE")
    model = load_model(model_dir)
    if sentences == ["-"]:
        frame = _predict_stdin(model, top_k)
    elif inputs:
        if sentences:
            raise DataError("give either sentences or --input, not both")
        with _progress("Predicting") as progress:
            task = progress.add_task("predict", total=1.0, sentences=0, rate=0.0)

            def update(done: int, fraction: float) -> None:
                elapsed = progress.tasks[task].elapsed or 1e-9
                progress.update(task, completed=fraction, sentences=done, rate=done / elapsed)

            # without --out every prediction is printed, so keep them all (not a preview)
            run = predict_files(model, inputs, out=out, top_k=top_k, text_column=text_column,
                                documents=documents, encoding=encoding, progress=update,
                                preview_rows=sys.maxsize if out is None else 0)
        if out is not None:
            typer.echo(f"{run.sentences:,} predictions written to {out}")
            return
        frame = run.preview
    else:
        frame = model.predict(sentences, top_k=top_k)
        frame["top_k"] = [";".join(f"{t}:{p:.3f}" for t, p in pairs) for pairs in frame["top_k"]]
    if explain:
        frame = _add_explanations(model, frame)
    if out is not None:
        from .data import table_sink

        with table_sink(out) as sink:
            sink.write(frame)
        typer.echo(f"{len(frame):,} predictions written to {out}")
        return
    _print_predictions(frame, output_format)


def _predict_stdin(model, top_k: int):
    from .sentences import split_sentences

    text = sys.stdin.read()
    sentences = [s.text for s in split_sentences(text, doc_id="stdin")]
    frame = model.predict(sentences, top_k=top_k)
    frame["top_k"] = [";".join(f"{t}:{p:.3f}" for t, p in pairs) for pairs in frame["top_k"]]
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
                                         show_default=False)],
    model_dir: ModelSourceOption = Path("models/default"),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report directory [default: "
                                                      "reports/<model>-<data>].")
    ] = None,
    taxonomy_path: TaxonomyOption = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
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
    if out.parent == Path("reports"):
        out.parent.mkdir(exist_ok=True)
    report = evaluate(model, data, taxonomy=taxonomy, text_column=text_column,
                      label_column=label_column, encoding=encoding, out_dir=out, n_boot=n_boot)
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
        figures["sha256 model.joblib"] = meta.get("sha256", {}).get("model.joblib", "")[:16] + "…"
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
