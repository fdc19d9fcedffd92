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
