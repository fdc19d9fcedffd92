"""Render library results for the terminal with rich (used by the CLI only).

Tables fit the console's width without breaking a token: a theme id or a ``theme:0.42`` pair
is never split (id and number columns do not wrap), text wraps at spaces, and when the table
would not fit, the columns that matter least are left out and named under it.
"""

from __future__ import annotations

import math

from rich.table import Table

__all__ = ["frame_table", "figures_table", "format_value", "fitting_columns", "MIN_TEXT_WIDTH"]

MIN_TEXT_WIDTH = 24  # a text column narrower than this reads as a word per line
_BORDER = 3  # a column's share of the table's borders and padding


def format_value(value) -> str:
    """Format a number for a table: 3 decimals for fractions, thousands separators for counts."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, int) or type(value).__name__.startswith("int"):
        return f"{int(value):,}"
    return str(value)


def _cell_width(text: str) -> int:
    return max((len(line) for line in str(text).splitlines()), default=0)


def fitting_columns(widths: list[int], available: int, *, text_width: int = 0) -> list[int]:
    """The columns that fit, taken in order of importance.

    Parameters
    ----------
    widths : list of int
        Each column's widest cell (header included), most important first.
    available : int
        The console's width.
    text_width : int, default=0
        Room kept for a column of text that wraps (0: none).

    Returns
    -------
    list of int
        Indices into ``widths``: the first column always, then the next ones as long as they
        fit (the columns after the first that does not are left out too).
    """
    used = 1 + (text_width + _BORDER if text_width else 0)
    chosen = []
    for i, width in enumerate(widths):
        if chosen and used + width + _BORDER > available:
            break
        chosen.append(i)
        used += width + _BORDER
    return chosen


def left_out_caption(names: list[str], width: int) -> str | None:
    """The line under a table naming the columns left out at ``width``, or None."""
    if not names:
        return None
    return f"left out, too narrow (COLUMNS={width}): {', '.join(names)}"


def frame_table(frame, *, title: str | None = None, index_name: str | None = None,
                left: tuple[str, ...] = (), wrap: tuple[str, ...] = (),
                width: int | None = None) -> Table:
    """A rich Table of a DataFrame, its index as the first column; columns right-aligned but
    those named in ``left`` or ``wrap`` (text). Only the ``wrap`` columns (prose) wrap, at
    spaces: ids and numbers are never cut. With ``width`` (the console's), the columns that
    do not fit are left out, the last first, and named in the caption."""
    index = [str(i) for i in frame.index]
    cells = {column: [format_value(v) for v in frame[column]] for column in frame.columns}
    columns = list(frame.columns)
    if width is not None:
        widths = [max(map(_cell_width, [index_name or frame.index.name or "", *index]),
                      default=0)]
        widths += [max(map(_cell_width, [str(c), *cells[c]])) for c in columns]
        kept = fitting_columns(widths, width)
        left_out = [str(c) for i, c in enumerate(columns, 1) if i not in kept]
        columns = [c for i, c in enumerate(columns, 1) if i in kept]
    else:
        left_out = []
    table = Table(title=title, title_justify="left", header_style="bold",
                  caption=left_out_caption(left_out, width or 0), caption_justify="left")
    table.add_column(index_name or frame.index.name or "", no_wrap=True)
    for column in columns:
        table.add_column(str(column), justify="left" if column in left + wrap else "right",
                         no_wrap=column not in wrap,
                         overflow="fold" if column in wrap else "ellipsis")
    for row, name in enumerate(index):
        table.add_row(name, *(cells[c][row] for c in columns))
    return table


def figures_table(figures: dict, *, title: str | None = None, humanize: bool = True) -> Table:
    """A two-column rich Table of named figures (underscores shown as spaces if ``humanize``);
    values are left-aligned, so one long value does not push the others right."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("figure", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in figures.items():
        table.add_row(name.replace("_", " ") if humanize else name, format_value(value))
    return table
