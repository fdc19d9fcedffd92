"""Render library results for the terminal with rich (used by the CLI only)."""

from __future__ import annotations

import math

from rich.table import Table

__all__ = ["frame_table", "figures_table", "format_value"]


def format_value(value) -> str:
    """Format a number for a table: 3 decimals for fractions, thousands separators for counts."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, int) or type(value).__name__.startswith("int"):
        return f"{int(value):,}"
    return str(value)


def frame_table(
    frame, *, title: str | None = None, index_name: str | None = None, left: tuple[str, ...] = ()
) -> Table:
    """A rich Table of a DataFrame, its index as the first column; columns right-aligned but
    those named in ``left`` (text)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column(index_name or frame.index.name or "")
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column in left else "right")
    for index, row in zip(frame.index, frame.itertuples(index=False)):
        table.add_row(str(index), *(format_value(v) for v in row))
    return table


def figures_table(figures: dict, *, title: str | None = None, humanize: bool = True) -> Table:
    """A two-column rich Table of named figures (underscores shown as spaces if ``humanize``)."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name.replace("_", " ") if humanize else name, format_value(value))
    return table
