"""The ``policy-themes`` Typer application; each command's module adds its command to it."""

from __future__ import annotations

from typing import Annotated

import typer
import typer.core


def _no_argument_type(self, ctx) -> None:
    """Show an argument by its name and help alone, where Typer would add its Python annotation
    (``INPUT <list[Path]>``): the help says in words what the argument takes."""
    return None


typer.core.TyperArgument.display_type_rich = _no_argument_type

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
        from policy_themes import __version__

        typer.echo(f"policy-themes {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Label foreign-policy sentences with policy themes: rules, a trained model, reports.

    Example:

    \b
    policy-themes label data/raw/foreign-policy-2017.txt
    """
    from policy_themes.parallel.pool import return_freed_memory

    return_freed_memory()
