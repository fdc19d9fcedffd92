"""Commands for bringing your own codebook: ``themes``, ``init`` and ``rules suggest``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import handle_errors, make_console
from policy_themes.cli.options import (
    EncodingOption,
    LabelColumnOption,
    TaxonomyOption,
    TextColumnOption,
)

__all__ = ["themes_cmd", "init_cmd", "rules_suggest_cmd"]

ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace the --out file when it exists.")
]


ThemesDataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        "-d",
        help="A labeled table (text + themes): count its sentences per theme.",
        readable=False,
        metavar="LABELED",
    ),
]


def themes_cmd(
    taxonomy_path: TaxonomyOption = None,
    data: ThemesDataOption = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Show a taxonomy's themes: id, name, description and rules.

    With --data, also each theme's labeled sentences ('labeled': sentences whose themes
    include it; 'primary': whose first theme it is, shown when some have several), and notes
    on themes with no or few of them.

    Example:

    \b
    policy-themes themes --taxonomy taxonomy.yaml --data labeled.csv
    """
    from policy_themes.cli.render import frame_table
    from policy_themes.workflows.codebook import describe_themes

    overview = describe_themes(
        taxonomy_path, data, text_column=text_column, label_column=label_column, encoding=encoding
    )
    taxonomy = overview.taxonomy
    table = overview.table.copy()
    table["description"] = table["description"].replace("", "(empty)")
    title = (
        f"Taxonomy {taxonomy.name}: {len(taxonomy.theme_ids)} themes and "
        f"{len(taxonomy.rules)} rules"
    )
    if overview.data is not None:
        title += f"; {overview.n_sentences:,} labeled sentences in {overview.data}"
    make_console().print(frame_table(table, title=title, wrap=("name", "description")))
    for note in overview.notes:
        typer.echo(f"Note: {note}")


ThemesOption = Annotated[
    list[str] | None,
    typer.Argument(
        help='Theme ids (energy_security) or names ("Energy security").', show_default=False,
        metavar="THEME",
    ),
]
FromLabelsOption = Annotated[
    Path | None,
    typer.Option(
        "--from-labels",
        help="A labeled table: one theme per distinct label of its label column.",
        readable=False,
        metavar="LABELED",
    ),
]
NoneLabelOption = Annotated[
    str,
    typer.Option(
        "--none-label",
        metavar="LABEL",
        help="The label meaning that no theme applies (any case); it becomes the theme 'none'.",
    ),
]
NameOption = Annotated[
    str | None,
    typer.Option("--name", metavar="NAME",
                 help="The taxonomy's name [default: the name of --out's folder]."),
]
OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="The taxonomy file to write.", readable=False,
                       metavar="FILE")
]


def init_cmd(
    themes: ThemesOption = None,
    from_labels: FromLabelsOption = None,
    label_column: LabelColumnOption = None,
    none_label: NoneLabelOption = "none",
    name: NameOption = None,
    out: OutOption = Path("taxonomy.yaml"),
    force: ForceOption = False,
    encoding: EncodingOption = None,
) -> None:
    """Write a new taxonomy (codebook) file to fill in: themes, 'none', empty descriptions.

    The themes come from the ids or names given, or from a labeled table's labels
    (--from-labels; labels that are not ids, such as "Protectionism: Positive", become the
    themes' names, so the table trains as it is). Comments in the file say what each field
    does. The file loads as written: a model can be trained with it at once.

    Example:

    \b
    policy-themes init --from-labels labeled.csv --out taxonomy.yaml
    """
    from policy_themes.workflows.codebook import init_taxonomy

    result = init_taxonomy(
        out,
        themes,
        from_labels=from_labels,
        label_column=label_column,
        none_label=none_label,
        name=name,
        encoding=encoding,
        overwrite=force,
    )
    ids = result.taxonomy.ids
    typer.echo(
        f"Wrote {result.path}: taxonomy {result.taxonomy.name} with {len(ids) - 1} "
        f"themes and none ({', '.join(ids)})."
    )
    data = f" --data {from_labels}" if from_labels is not None else ""
    typer.echo(
        "Next: fill in the descriptions, then see the themes with "
        f"`policy-themes themes --taxonomy {result.path}{data}`."
    )


DataOption = Annotated[
    Path,
    typer.Argument(help="A labeled table (text + themes).", show_default=False, readable=False,
                   metavar="LABELED"),
]
PerThemeOption = Annotated[
    int, typer.Option("--per-theme", "-n", min=1, metavar="N", help="Most patterns per theme.")
]
MinPrecisionOption = Annotated[
    float,
    typer.Option(
        "--min-precision",
        metavar="SHARE",
        min=0.0,
        max=1.0,
        help="Least share of the sentences a pattern matches that have the theme.",
    ),
]
MinMatchesOption = Annotated[
    int,
    typer.Option(
        "--min-matches", min=1, metavar="N",
        help="Least sentences with the theme a pattern must match."
    ),
]
MaxWordsOption = Annotated[
    int, typer.Option("--max-words", min=1, max=5, metavar="N", help="Longest phrase, in words.")
]
RulesOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Write the taxonomy with the suggested rules added "
        "here (a new YAML file) instead of printing them.",
        readable=False,
        metavar="FILE",
    ),
]


def rules_suggest_cmd(
    data: DataOption,
    taxonomy_path: TaxonomyOption = None,
    per_theme: PerThemeOption = 5,
    min_precision: MinPrecisionOption = 0.7,
    min_matches: MinMatchesOption = 3,
    max_words: MaxWordsOption = 3,
    out: RulesOutOption = None,
    force: ForceOption = False,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Suggest rules from labeled sentences: for each theme, the words and phrases that best
    separate its sentences from the others.

    Prints, per theme, how much of it the taxonomy's rules match now and with the
    suggestions, then the suggested rules as YAML to paste into the taxonomy, each pattern
    with its precision (share of the sentences it matches that have the theme) and coverage
    (share of the theme's sentences it matches). Both are measured on the sentences the
    patterns were chosen from, so expect less on new text: keep the ones that make sense.
    --out writes the whole taxonomy with the suggested rules added instead.

    Example:

    \b
    policy-themes rules suggest labeled.csv --taxonomy taxonomy.yaml
    """
    from policy_themes.workflows.codebook import check_new_file
    from policy_themes.workflows.rule_suggestions import suggest_rules_from_table

    if out is not None:
        check_new_file(out, overwrite=force)  # before the work
    suggestions = suggest_rules_from_table(
        data,
        taxonomy_path,
        text_column=text_column,
        label_column=label_column,
        encoding=encoding,
        per_theme=per_theme,
        min_precision=min_precision,
        min_matches=min_matches,
        max_words=max_words,
    )
    _print_rule_summary(suggestions)
    _write_or_print_rules(suggestions, out, force)


def _write_or_print_rules(suggestions, out: Path | None, force: bool) -> None:
    if out is not None:
        suggestions.write_taxonomy(out, overwrite=force)
        typer.echo(
            f"Wrote {out}: the taxonomy with {len(suggestions.table)} suggested patterns "
            f"in {len(suggestions.rules)} rules; delete the ones that do not make sense."
        )
    elif len(suggestions.table):
        typer.echo()
        typer.echo(suggestions.to_yaml(), nl=False)


def _print_rule_summary(suggestions) -> None:
    from policy_themes.cli.render import frame_table

    summary = suggestions.summary.rename(
        columns={
            "labeled": "sentences",
            "suggested": "patterns",
            "rules_coverage": "rules cover",
            "rules_precision": "rules precision",
            "with_coverage": "with suggested cover",
            "with_precision": "with suggested precision",
        }
    )
    title = (
        f"Suggested rules from {suggestions.n_sentences:,} labeled sentences "
        f"(precision ≥ {suggestions.settings['min_precision']:g}, "
        f"≥ {suggestions.settings['min_matches']} matches)"
    )
    make_console().print(frame_table(summary, title=title))
    missing = summary.index[summary["patterns"] == 0].tolist()
    if missing:
        typer.echo(
            f"Note: no pattern qualifies for {', '.join(missing)}: lower "
            "--min-precision or --min-matches, or label more of their sentences."
        )


app.command("themes")(handle_errors(themes_cmd))
app.command("init")(handle_errors(init_cmd))
rules_app = typer.Typer(
    name="rules",
    help="Work with a taxonomy's labeling rules.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
rules_app.command("suggest")(handle_errors(rules_suggest_cmd))
app.add_typer(rules_app, name="rules")
