"""``policy-themes label``: label documents or sentences with the taxonomy's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import (
    handle_errors,
    interruptible,
    jobs_or_cores,
    make_console,
    print_findings,
    progress,
)
from policy_themes.cli.options import (
    ChunkSizeOption,
    DocColumnOption,
    EncodingOption,
    JobsOption,
    TaxonomyOption,
    TextColumnOption,
)

InputsOption = Annotated[
    list[Path],
    typer.Argument(
        metavar="INPUT",
        help="Documents (.txt), folders of them, or tables (CSV, TSV, JSONL, "
        "Parquet; .gz allowed).",
        show_default=False,
        readable=False,
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="PATH",
        help="Write labeled sentences here (.csv, .tsv, .jsonl, .parquet).",
    ),
]
DocumentsOption = Annotated[
    bool,
    typer.Option("--documents", help="Table rows are documents: split them into sentences."),
]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", metavar="FILE", help="Write the rule analysis here (.md or .json)."),
]
ShowRulesOption = Annotated[
    bool | None,
    typer.Option("--rules/--no-rules", show_default=False,
                 help="Print the per-rule table [default: yes, but for a small input shown "
                 "sentence by sentence].")
]
# an input this small, printed to a terminal (no --out), is shown sentence by sentence first
SMALL_INPUT = 20


@app.command("label")
@handle_errors
def label_cmd(
    inputs: InputsOption,
    out: OutOption = None,
    taxonomy_path: TaxonomyOption = None,
    text_column: TextColumnOption = "text",
    documents: DocumentsOption = False,
    doc_column: DocColumnOption = None,
    report: ReportOption = None,
    show_rules: ShowRulesOption = None,
    chunk_size: ChunkSizeOption = 20_000,
    encoding: EncodingOption = None,
    jobs: JobsOption = None,
) -> None:
    """Label sentences with the taxonomy's rules and print an analysis of the rules.

    Text documents are split into sentences; table rows are sentences unless --documents is
    given. When a table has a gold 'themes' column, the rules are scored against it
    (precision, recall and F1 per theme and per rule). A small input (up to 20 sentences)
    printed to a terminal without --out shows each sentence with its themes first.

    Example:

    \b
    policy-themes label data/raw/foreign-policy-2017.txt --out labeled.csv
    """
    from policy_themes.parallel.workers import prepare_label_workers

    # the workers' modules load while this starts
    prepare_label_workers(jobs_or_cores(jobs, note=False), inputs, documents)
    from policy_themes.rules.taxonomy import load_taxonomy
    from policy_themes.workflows.batch_labeling import check_report_path, label_files

    if report is not None:
        check_report_path(report)
    taxonomy = load_taxonomy(taxonomy_path)
    done = {"sentences": 0, "fraction": 0.0}
    with interruptible(done, out), progress("Labeling", done) as update:
        run = label_files(
            inputs,
            taxonomy,
            out=out,
            text_column=text_column,
            documents=documents,
            doc_column=doc_column,
            chunksize=chunk_size,
            encoding=encoding,
            progress=update,
            jobs=jobs_or_cores(jobs),
            report=report,
            preview_rows=SMALL_INPUT if out is None else 0,
        )
    print_findings(run.findings)
    _print_label_run(run, show_rules=show_rules)
    if report is not None:
        typer.echo(f"Rule analysis written to {report}")
    if out is not None:
        typer.echo(f"{run.sentences:,} labeled sentences written to {out}")


def _print_label_run(run, *, show_rules: bool | None = None) -> None:
    from policy_themes.cli.render import figures_table, frame_table

    console = make_console()
    small = (run.preview is not None and run.sentences <= SMALL_INPUT
             and console.is_terminal)
    if small:
        console.print(_sentence_table(run.preview, console.width))
    analysis = run.analysis
    console.print(figures_table(analysis.overall(), title="Rules: overall"))
    themes = analysis.theme_summary()
    if small:  # the themes these sentences have, not every theme of the taxonomy
        themes = themes[themes.iloc[:, 0] > 0]
    console.print(frame_table(themes, title="Rules per theme", width=console.width))
    if show_rules is False or (show_rules is None and small):
        return
    rules = analysis.rule_summary()
    if run.has_gold:
        rules = rules[["theme", "fires", "coverage", "overlaps", "conflicts", "precision"]]
    console.print(frame_table(rules, title="Rules", left=("theme",), width=console.width))


def _sentence_table(preview, width: int):
    """Each labeled sentence with the rules' themes (and the rules that fired), one per line;
    the rules column is left out when the terminal is too narrow."""
    from rich.table import Table

    from policy_themes.cli.render import MIN_TEXT_WIDTH, fitting_columns, left_out_caption

    themes = "rule_themes" if "rule_themes" in preview.columns else "themes"
    cells = {name: [str(v).replace(";", "\n") for v in preview[name]]
             for name in (themes, "rules") if name in preview.columns}
    widths = [max(len(line) for cell in [name, *column] for line in cell.splitlines() or [""])
              for name, column in cells.items()]
    kept = [list(cells)[i] for i in fitting_columns(widths, width - 5,
                                                     text_width=MIN_TEXT_WIDTH)]
    table = Table(title="Sentences", title_justify="left", header_style="bold",
                  show_lines=True, caption_justify="left",
                  caption=left_out_caption([c for c in cells if c not in kept], width))
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("text", overflow="fold", min_width=MIN_TEXT_WIDTH, ratio=1)
    for name in kept:
        table.add_column(name, no_wrap=True)
    for row, text in enumerate(preview["text"].astype(str)):
        table.add_row(str(row + 1), text, *(cells[name][row] for name in kept))
    return table
