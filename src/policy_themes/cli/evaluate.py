"""``policy-themes evaluate``: an accuracy report on labeled data."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import (
    chosen_model,
    handle_errors,
    make_console,
    print_findings,
    with_ci,
)
from policy_themes.cli.options import (
    DocColumnOption,
    EncodingOption,
    LabelColumnOption,
    ModelSourceOption,
    TaxonomyOption,
    TextColumnOption,
)

DataOption = Annotated[
    Path,
    typer.Argument(
        metavar="LABELED",
        help="Labeled table: text + themes (or theme).",
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
        help="Report directory [default: reports/<model>-<data>].",
    ),
]
NBootOption = Annotated[
    int,
    typer.Option(
        "--bootstrap", metavar="N", min=0, help="Bootstrap resamples for the 95% intervals."
    ),
]


@app.command("evaluate")
@handle_errors
def evaluate_cmd(
    ctx: typer.Context,
    data: DataOption,
    model_dir: ModelSourceOption = Path("models/default"),
    out: OutOption = None,
    taxonomy_path: TaxonomyOption = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
    doc_column: DocColumnOption = None,
    n_boot: NBootOption = 1000,
    encoding: EncodingOption = None,
) -> None:
    """Evaluate a model on labeled sentences and write an accuracy report.

    The report directory gets report.md (a person reads it), report.json and confusion.png:
    accuracy, macro/weighted F1 with 95% bootstrap intervals, per-theme figures, top-3
    accuracy, theme-set metrics, calibration, the most frequent confusions with examples, and
    the same figures for the rules alone and the majority class.

    Example:

    \b
    policy-themes evaluate ../shared/eval/real-dev.csv
    """
    from policy_themes.model.theme_model import load_model
    from policy_themes.rules.taxonomy import load_taxonomy
    from policy_themes.workflows.evaluate import evaluate

    model = load_model(chosen_model(ctx, model_dir))
    taxonomy = load_taxonomy(taxonomy_path) if taxonomy_path is not None else None
    out = out or Path("reports") / f"{model.name}-{data.name.split('.')[0]}"
    made_reports = out.parent == Path("reports") and not out.parent.exists()
    if made_reports:
        out.parent.mkdir()
    try:
        report = evaluate(
            model,
            data,
            taxonomy=taxonomy,
            text_column=text_column,
            label_column=label_column,
            doc_column=doc_column,
            encoding=encoding,
            out_dir=out,
            n_boot=n_boot,
        )
    except BaseException:
        if made_reports:  # a failed run leaves nothing behind, not even an empty reports/
            with contextlib.suppress(OSError):
                out.parent.rmdir()
        raise
    print_findings(report.findings)
    _print_eval_summary(report)
    typer.echo(f"Report written to {out}/report.md")


def _print_eval_summary(report) -> None:
    from rich.table import Table

    systems = {"model": report.metrics, **report.baselines}
    table = Table(title=report.title, title_justify="left", header_style="bold")
    table.add_column("figure")
    for name in systems:
        table.add_column(name, justify="right")
    rows = [
        ("accuracy", "accuracy_ci"),
        ("macro_f1", "macro_f1_ci"),
        ("weighted_f1", None),
        ("top3_accuracy", None),
        ("set_micro_f1", None),
        ("subset_accuracy", None),
        ("brier", None),
        ("ece", None),
    ]
    for key, ci in rows:
        cells = []
        for metrics in systems.values():
            value = metrics.get(key)
            cells.append(
                "–"
                if value is None or value != value
                else with_ci(value, metrics.get(ci) if ci else None)
            )
        table.add_row(key.replace("_", " "), *cells)
    make_console().print(table)
