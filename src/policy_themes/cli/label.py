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
    bool, typer.Option("--rules/--no-rules", help="Print the per-rule table.")
]


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
    show_rules: ShowRulesOption = True,
    chunk_size: ChunkSizeOption = 20_000,
    encoding: EncodingOption = None,
    jobs: JobsOption = None,
) -> None:
    """Label sentences with the taxonomy's rules and print an analysis of the rules.

    Text documents are split into sentences; table rows are sentences unless --documents is
    given. When a table has a gold 'themes' column, the rules are scored against it
    (precision, recall and F1 per theme and per rule).

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
        )
    print_findings(run.findings)
    _print_label_run(run, show_rules=show_rules)
    if report is not None:
        typer.echo(f"Rule analysis written to {report}")
    if out is not None:
        typer.echo(f"{run.sentences:,} labeled sentences written to {out}")


def _print_label_run(run, *, show_rules: bool = True) -> None:
    from policy_themes.cli.render import figures_table, frame_table

    console = make_console()
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
