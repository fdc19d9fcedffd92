"""The words of a profile: what stands out, said in a few sentences, and ``profile.md``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from policy_themes.rules.taxonomy import NO_THEME
from policy_themes.workflows.profiles.reading import HEATMAP_ROWS, MISSING, TIME_ROWS


def _label(row, columns: Sequence[str]) -> str:
    """A group's name: its values joined by `` · ``."""
    return " · ".join(str(row[c]) for c in columns)


def pct(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{100 * value:.1f} %" if value >= 0.001 or value == 0 else f"{100 * value:.2f} %"


def _times(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1f}×"


def _ratio_text(row) -> str:
    interval = ""
    if math.isfinite(row["ratio_low"]) and math.isfinite(row["ratio_high"]):
        interval = f" (95 % CI {row['ratio_low']:.1f}–{row['ratio_high']:.1f}×)"
    return f"{_times(row['ratio'])} the share in the rest of the input{interval}"


def _summary(result) -> list[str]:
    """Sentences on the input, the main themes, the standouts and the changes over time."""
    lines = [_scope_sentence(result), _themes_sentence(result)]
    lines.extend(_standout_sentences(result))
    lines.extend(_trend_sentences(result))
    return [line for line in lines if line]


def _scope_sentence(result) -> str:
    shape = " × ".join(result.by)
    text = (f"{result.sentences:,} sentences in {result.documents:,} documents, "
            f"{len(result.groups):,} groups by {shape}")
    if result.top is not None and result.top < result.total_groups:
        kind = " × ".join(result.group_columns or result.by)
        text += (f": the {result.top:,} {kind} with the most sentences, of "
                 f"{result.total_groups:,}")
        if result.time is not None and result.group_columns:
            text += f", in every {result.time}"
    return text + "."


def _themes_sentence(result) -> str:
    overall = result.overall
    themed = overall[overall["theme"] != NO_THEME].head(3)
    if themed.empty:
        return "No sentence has a theme."
    parts = [f"`{r.theme}` ({pct(r.primary_share)})" for r in themed.itertuples()]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    text = f"The most frequent primary themes are {listed}"
    none = overall[overall["theme"] == NO_THEME]
    if len(none):
        text += f"; {pct(float(none['primary_share'].iloc[0]))} of sentences have none"
    return text + "."


def _standout_sentences(result, count: int = 3) -> list[str]:
    """The groups that stand out most, whatever the theme (one per theme)."""
    best = result.standouts[result.standouts["rank"] == 1]
    if best.empty:
        return ["No group stands out for any theme against the rest of the input."]
    key = "ratio_low" if result.n_boot else "ratio"
    lines = []
    for _, row in best.sort_values(key, ascending=False, kind="stable").head(count).iterrows():
        lines.append(f"**{_label(row, result.by)}** stands out for `{row['theme']}`: "
                     f"{pct(row['primary_share'])} of its {row['sentences']:,} sentences, "
                     f"{_ratio_text(row)}.")
    return lines


def _trend_sentences(result) -> list[str]:
    """For each theme drawn over time: its share at the first and last time, and its peak."""
    if result.over_time is None or not result.line_themes:
        return []
    wide = result.wide("primary_share", table="over_time")
    wide.index = [str(i[0] if isinstance(i, tuple) else i) for i in wide.index]
    wide = wide[[i != MISSING for i in wide.index]]
    if len(wide) < 2:
        return []
    lines = []
    for theme in result.line_themes:
        values = wide[theme]
        first, last, peak = values.index[0], values.index[-1], values.idxmax()
        start, end = pct(values.iloc[0]), pct(values.iloc[-1])
        if start == end:
            text = (f"`{theme}` was {start} of sentences in {_when(first)} and again in "
                    f"{_when(last)}")
        else:
            verb = "rose" if values.iloc[-1] > values.iloc[0] else "fell"
            text = (f"`{theme}` {verb} from {start} of sentences in {_when(first)} to {end} "
                    f"in {_when(last)}")
        if peak not in (first, last):
            text += f", with a peak of {pct(values[peak])} in {_when(peak)}"
        lines.append(text + ".")
    return lines


def _when(label: str) -> str:
    """``1990s`` -> ``the 1990s``; other times as they are."""
    return f"the {label}" if re.fullmatch(r"\d+s", label) else label


_HOW_TO_READ = """\
- **primary share**: the share of a group's sentences whose primary (most probable) theme is
  the theme; the shares of a group add up to 100 % over the themes and `none`.
- **set share**: the share of its sentences whose theme set (every theme over its threshold)
  holds the theme; a sentence can count for several themes.
- **per-document share** (`doc_` columns): the mean over the group's documents of each
  document's share, so that long documents do not weigh more than short ones.
- **intervals**: 95 % percentile bootstrap intervals, {n_boot:,} replicates that resample the
  documents of each group with replacement; none for a group of one document.
- **ratio**: the group's primary share over the primary share of every other sentence of the
  input (2.0× means twice as frequent as elsewhere). A group stands out when the low end of
  the ratio's interval is above 1; the standouts are ranked by that low end, so that a large
  ratio from a handful of sentences does not come first.
"""


def _markdown(result, figures: Mapping[str, str]) -> str:
    """The text of ``profile.md``."""
    title = " × ".join(result.by)
    parts = [f"# Theme profile by {title}",
             "\n".join(f"- {line}" for line in result.summary()),
             _sources_line(result)]
    if "heatmap" in figures:
        parts.append(f"## Groups × themes\n\n![Primary theme shares of the groups]"
                     f"({figures['heatmap']})\n\n{_heatmap_caption(result)}")
    if "over_time" in figures:
        parts.append(f"## Over time\n\n![Primary theme shares over time]"
                     f"({figures['over_time']})")
    if "standouts" in figures:
        parts.append(f"## What stands out\n\n![The group that stands out most for each theme]"
                     f"({figures['standouts']})")
    parts.append(_standouts_markdown(result))
    parts.append(_groups_markdown(result))
    parts.append("## How to read this\n\n" + _HOW_TO_READ.format(n_boot=result.n_boot))
    if result.files:
        listed = "\n".join(f"- `{path.name}`" for key, path in result.files.items()
                           if key != "markdown")
        parts.append(f"## Files\n\n{listed}")
    return "\n\n".join(p for p in parts if p) + "\n"


def _sources_line(result) -> str:
    names = ", ".join(f"`{Path(s).name}`" for s in result.sources[:5])
    more = f" and {len(result.sources) - 5} more" if len(result.sources) > 5 else ""
    return f"Predictions read: {names}{more}." if names else ""


def heatmap_rows(result) -> tuple[pd.DataFrame, int]:
    """The heat map's rows (one row of the table per group) and the number of groups: the
    groups with the most sentences, or every time in order (up to ``TIME_ROWS``)."""
    keys = heatmap_keys(result)
    groups = heatmap_table(result).drop_duplicates(subset=keys)
    if keys == [result.time]:
        return groups.head(TIME_ROWS), len(groups)
    return groups.nlargest(HEATMAP_ROWS, "sentences", keep="first"), len(groups)


def _heatmap_caption(result) -> str:
    shown, total = heatmap_rows(result)
    if len(shown) == total:
        rows = f"all {total:,} groups"
    elif heatmap_keys(result) == [result.time]:
        rows = f"the first {len(shown)} of {total:,} times"
    else:
        rows = f"the {len(shown)} with the most sentences of {total:,} groups"
    together = f" (all {result.time}s together)" if result.across_time is not None else ""
    return (f"Rows: {rows}{together}, with their number of sentences; columns: the themes, "
            "most frequent first (`none` left out). Each cell: the share of the row's "
            "sentences with that primary theme, and their number.")


def _standouts_markdown(result) -> str:
    best = result.standouts[result.standouts["rank"] == 1]
    if best.empty:
        return ""
    lines = ["| theme | group | share | rest | ratio (95 % CI) | sentences |",
             "|---|---|---:|---:|---:|---:|"]
    for _, row in best.iterrows():
        interval = (f" ({row['ratio_low']:.1f}–{row['ratio_high']:.1f})"
                    if math.isfinite(row["ratio_low"]) else "")
        lines.append(f"| `{row['theme']}` | {_label(row, result.by)} | "
                     f"{pct(row['primary_share'])} | {pct(row['rest_share'])} | "
                     f"{_times(row['ratio'])}{interval} | {row['sentences']:,} |")
    return ("The group that stands out most for each theme (every group's ratio is in the "
            "shares table, the first three per theme in the standouts table):\n\n"
            + "\n".join(lines))


def _groups_markdown(result, count: int = 15) -> str:
    """The largest groups with their three main themes."""
    table = heatmap_table(result)
    keys = heatmap_keys(result)
    sizes = table.drop_duplicates(subset=keys).nlargest(count, "sentences")
    lines = ["| group | sentences | documents | main primary themes (95 % CI) |",
             "|---|---:|---:|---|"]
    for _, group in sizes.iterrows():
        rows = table[(table[keys] == group[keys]).all(axis=1) & (table["theme"] != NO_THEME)]
        main = rows.nlargest(3, "primary_share")
        themes = "; ".join(f"`{r['theme']}` {pct(r['primary_share'])}"
                           + (f" ({pct(r['primary_low'])}–{pct(r['primary_high'])})"
                              if math.isfinite(r["primary_low"]) else "")
                           for _, r in main.iterrows())
        lines.append(f"| {_label(group, keys)} | {group['sentences']:,} | "
                     f"{group['documents']:,} | {themes} |")
    what = f", all {result.time}s together" if result.across_time is not None else ""
    return f"## Largest groups\n\nThe {len(sizes)} groups with the most sentences{what}:\n\n" \
        + "\n".join(lines)


def heatmap_table(result) -> pd.DataFrame:
    return result.across_time if result.across_time is not None else result.shares


def heatmap_keys(result) -> list[str]:
    return result.group_columns if result.across_time is not None else result.by
