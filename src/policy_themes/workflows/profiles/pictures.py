"""The pictures of a profile: a heat map of groups x themes, lines over time, and the groups
that stand out."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.rules.taxonomy import NO_THEME
from policy_themes.workflows.profiles.reading import LINE_GROUPS, MISSING
from policy_themes.workflows.profiles.shares import natural_key
from policy_themes.workflows.profiles.text import (
    _label,
    _times,
    heatmap_keys,
    heatmap_rows,
    heatmap_table,
    pct,
)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(figure)
    return figure


_DPI = 90


def _readable(theme: str) -> str:
    return theme.replace("_", " ")


def _compact(count: float) -> str:
    """1,234 -> 1.2k, 1,234,567 -> 1.2M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f}{suffix}".replace(".0", "")
    return f"{int(count)}"


def plot_heatmap(result, path: Path) -> bool:
    """Groups × themes: each cell the share of the row's sentences with that primary theme
    and their number, coloured by that share against the theme's share in all sentences;
    the rows are the groups with the most sentences."""
    table, keys = heatmap_table(result), heatmap_keys(result)
    themes = [t for t in result.themes if t != NO_THEME]
    groups, _ = heatmap_rows(result)
    if not themes or groups.empty:
        return False
    cells = table.set_index([*keys, "theme"])
    index = [(*tuple(g), t) for g in groups[keys].itertuples(index=False) for t in themes]
    shares = cells.loc[index, "primary_share"].to_numpy(dtype=float).reshape(-1, len(themes))
    counts = cells.loc[index, "primary_n"].to_numpy().reshape(-1, len(themes))
    overall = result.overall.set_index("theme").loc[themes, "primary_share"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.log2(np.clip(shares / overall, 0.25, 4))
    figure = _figure(3.2 + 0.66 * len(themes), 2.1 + 0.34 * len(groups))
    ax = figure.subplots()
    image = ax.imshow(relative, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    colorbar = figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01, ticks=[-2, -1, 0, 1, 2])
    colorbar.ax.set_yticklabels(["¼× or less", "½×", "1×", "2×", "4× or more"])
    colorbar.set_label("share against the theme's share in all sentences")
    for (i, j), share in np.ndenumerate(shares):
        ax.text(j, i, f"{_short_pct(share)}\n{_compact(counts[i, j])}", ha="center",
                va="center", fontsize=6.5, color="white" if abs(relative[i, j]) > 1.3
                else "black")
    ax.set_xticks(range(len(themes)), labels=[_readable(t) for t in themes], rotation=35,
                  ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(groups)), labels=[
        f"{_label(row, keys)}  (n={row['sentences']:,})" for _, row in groups.iterrows()],
        fontsize=8)
    ax.set_xlabel("primary theme (none left out)")
    ax.set_ylabel(" × ".join(keys))
    together = f", all {result.time}s together" if result.across_time is not None else ""
    ax.set_title(f"Primary theme of the sentences by {' × '.join(keys)}{together}\n"
                 "each cell: the share of the row's sentences with that theme, and their number",
                 fontsize=10)
    figure.tight_layout()
    _save_png(figure, path)
    return True


def _short_pct(share: float) -> str:
    percent = 100 * share
    return f"{percent:.0f}%" if percent >= 9.95 else f"{percent:.1f}%"


def _save_png(figure, path: Path) -> None:
    """Save a figure as a PNG of 256 colours: a third of the bytes, the same to the eye."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    buffer.seek(0)
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
        palette.save(path, format="PNG")


def _time_axis(frame: pd.DataFrame, time: str) -> list[str]:
    values = [v for v in frame[time].drop_duplicates() if v != MISSING]
    return sorted(values, key=natural_key)


def plot_lines(result, path: Path) -> bool:
    """One panel per theme drawn over time: every sentence (with its interval) and the
    groups with the most sentences."""
    over, time = result.over_time, result.time
    if over is None or not result.line_themes:
        return False
    axis = _time_axis(over, time)
    if len(axis) < 2:
        return False
    largest = _largest_groups(result, LINE_GROUPS)
    columns = min(len(result.line_themes), 2)
    rows = math.ceil(len(result.line_themes) / columns)
    figure = _figure(6.2 * columns, 3.3 * rows + 1.1)
    panels = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    sizes = over.drop_duplicates(subset=[time]).set_index(time)["sentences"]
    step = math.ceil(len(axis) / 10)  # at most 10 labelled times
    shown = list(range(0, len(axis), step))
    ticks = [f"{axis[i]}\nn={_compact(sizes[axis[i]])}" for i in shown]
    for ax, theme in zip(panels, result.line_themes):
        _draw_theme_over_time(ax, result, theme, axis, largest)
        ax.set_xticks(shown, labels=ticks, fontsize=7)
        ax.set_title(_readable(theme), fontsize=10)
        ax.set_ylabel("primary share (% of sentences)")
        ax.set_xlabel(time)
        ax.grid(alpha=0.3)
    for ax in panels[len(result.line_themes):]:
        ax.set_visible(False)
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8,
                  frameon=False)
    figure.suptitle(f"Primary theme share over time (all: every sentence, with its 95 % "
                    f"interval; n = sentences per {time})", fontsize=11)
    figure.tight_layout(rect=(0, 0.07 if rows == 1 else 0.04, 1, 1))
    _save_png(figure, path)
    return True


def _largest_groups(result, count: int) -> list[tuple]:
    """The groups (of the columns other than time) with the most sentences."""
    if result.across_time is None:
        return []
    keys = result.group_columns
    groups = result.across_time.drop_duplicates(subset=keys).nlargest(count, "sentences")
    return [tuple(row) for row in groups[keys].itertuples(index=False)]


def _draw_theme_over_time(ax, result, theme: str, axis: list[str],
                          largest: list[tuple]) -> None:
    positions = {t: i for i, t in enumerate(axis)}
    over = result.over_time[result.over_time["theme"] == theme]
    over = over[over[result.time].isin(positions)]
    x = over[result.time].map(positions).to_numpy()
    ax.fill_between(x, 100 * over["primary_low"], 100 * over["primary_high"], color="black",
                    alpha=0.12, linewidth=0)
    ax.plot(x, 100 * over["primary_share"], color="black", linewidth=2.4, marker="o",
            markersize=3, label="all")
    keys = result.group_columns
    shares = result.shares[result.shares["theme"] == theme]
    for group in largest:
        rows = shares[(shares[keys] == pd.Series(group, index=keys)).all(axis=1)]
        rows = rows[rows[result.time].isin(positions)]
        ax.plot(rows[result.time].map(positions), 100 * rows["primary_share"], linewidth=1.1,
                marker=".", alpha=0.85, label=" · ".join(map(str, group)))
    ax.set_ylim(bottom=0)


def plot_standouts(result, path: Path) -> bool:
    """For each theme, the group that stands out most: its ratio with its interval."""
    from matplotlib.ticker import FixedLocator, NullLocator

    best = result.standouts[result.standouts["rank"] == 1]
    if best.empty:
        return False
    best = best.sort_values("ratio", kind="stable")
    figure = _figure(10, 1.8 + 0.42 * len(best))
    ax = figure.subplots()
    y = np.arange(len(best))
    ratio = best["ratio"].to_numpy(dtype=float)
    low = np.nan_to_num(best["ratio_low"].to_numpy(dtype=float), nan=ratio)
    high = np.nan_to_num(best["ratio_high"].to_numpy(dtype=float), nan=ratio)
    ax.errorbar(ratio, y, xerr=[ratio - low, high - ratio], fmt="o", color="tab:blue",
                ecolor="tab:blue", elinewidth=1.6, capsize=3)
    for i, (_, row) in enumerate(best.iterrows()):
        ax.text(high[i] * 1.05, i, f"{_times(row['ratio'])}  ({pct(row['primary_share'])} "
                f"against {pct(row['rest_share'])})", va="center", fontsize=8)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(0.8, float(np.nanmax(high)) * 3.2)
    ticks = [t for t in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
             if t <= np.nanmax(high) * 3.2]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t}×" for t in ticks])
    ax.set_yticks(y, labels=[f"{_readable(r['theme'])}: {_label(r, result.by)} "
                             f"(n={r['sentences']:,})" for _, r in best.iterrows()], fontsize=8)
    ax.set_xlabel("the group's primary share against that of every other sentence (log scale; "
                  "bars: 95 % CI;\ndashed line: as often as elsewhere)")
    ax.set_title("The group that stands out most for each theme", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    _save_png(figure, path)
    return True
