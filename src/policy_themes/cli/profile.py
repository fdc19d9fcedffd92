"""``policy-themes profile``: theme profiles of predictions, by group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import handle_errors
from policy_themes.cli.options import ProfileFormat

__all__ = ["profile_cmd"]


PredictionsOption = Annotated[
    list[Path],
    typer.Argument(
        help="Predictions written by `policy-themes predict --out` (CSV, TSV, "
        "JSONL, Parquet; .gz allowed), or folders of Parquet parts.",
        show_default=False,
        readable=False,
        metavar="PREDICTIONS",
    ),
]
ByOption = Annotated[
    list[str],
    typer.Option(
        "--by",
        "-b",
        help="A column that makes the groups (repeatable), such as "
        "iso3 or year: predict keeps its input's columns.",
        show_default=False,
        metavar="COLUMN",
    ),
]
BinsOption = Annotated[
    str | None,
    typer.Option(
        "--bin",
        help="Bin a --by column: 'decade' bins the year (or date) "
        "column into decades (1990s); or COLUMN=decade.",
        metavar="BIN",
    ),
]
TopOption = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        help="Keep the N groups with the most sentences (with a "
        "time column, N groups of the other columns, every "
        "decade kept).",
        metavar="N",
    ),
]
ThemesOption = Annotated[
    str | None,
    typer.Option(
        "--themes",
        help="Themes to draw over time, comma-separated [default: the four that vary most].",
        metavar="THEME,THEME",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Write the tables, the pictures and profile.md into this folder (made if missing).",
        metavar="FOLDER",
    ),
]
TableFormatOption = Annotated[
    ProfileFormat, typer.Option("--format", "-f", help="The tables' format.")
]
DocColumnOption = Annotated[
    str,
    typer.Option(
        "--doc-column",
        help="The column naming each sentence's document: the bootstrap resamples documents.",
        metavar="NAME",
    ),
]
NBootOption = Annotated[
    int,
    typer.Option("--bootstrap", min=0, metavar="N",
                 help="Bootstrap resamples for the 95% intervals (0: none)."),
]


def profile_cmd(
    predictions: PredictionsOption,
    by: ByOption,
    bins: BinsOption = None,
    top: TopOption = None,
    themes: ThemesOption = None,
    out: OutOption = None,
    table_format: TableFormatOption = ProfileFormat.csv,
    doc_column: DocColumnOption = "doc_id",
    n_boot: NBootOption = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the bootstrap.")] = 0,
) -> None:
    """Profile predictions: how much each group talks about each theme, with intervals.

    For each group (the values of the --by columns): the share of its sentences with each
    primary theme and with each theme in their theme set, per-document shares, counts, 95%
    bootstrap intervals over documents, and how far the group stands out against every other
    sentence (a ratio with its interval). With --out: tables (shares, groups, standouts,
    over_time, across_time, overall), a heat map, lines over time, a standouts chart and a
    profile.md that shows them.

    Example:

    \b
    policy-themes profile predicted.parquet --by iso3 --by year --bin decade --out profile/
    """
    from policy_themes.workflows.profiles import profile

    chosen = [t for t in themes.split(",")] if themes is not None else None
    result = profile(
        predictions,
        by=by,
        bins=bins,
        top=top,
        themes=chosen,
        doc_column=doc_column,
        out_dir=out,
        format=table_format.value,
        n_boot=n_boot,
        seed=seed,
    )
    for line in result.summary():
        typer.echo(line.replace("**", "").replace("`", ""))
    if out is not None:
        typer.echo(f"Profile written to {result.files['markdown']}")
    else:
        typer.echo("Add --out FOLDER for the tables, the pictures and profile.md.")


app.command("profile")(handle_errors(profile_cmd))
