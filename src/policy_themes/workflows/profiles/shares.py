"""Shares of each theme per group from the per-document counts, with bootstrap intervals that
resample documents, and the groups that stand out."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from policy_themes.rules.taxonomy import NO_THEME
from policy_themes.workflows.profiles.reading import (
    BOOT_CELLS,
    KEPT_WEIGHTS,
    LEVEL,
    LINE_THEMES,
    MEASURES,
    MISSING,
    STANDOUTS_PER_THEME,
    Counts,
    factorize_rows,
    sum_by,
)


def build_profile(counts: Counts, *, time: str | None, top: int | None,
                   line_themes: list[str] | None, n_boot: int, seed: int, make):
    """Every table of the profile, from the per-unit counts, as ``make(**tables)`` (the
    :class:`~policy_themes.workflows.profiles.api.Profile` class)."""
    counts = _themes_ordered(counts)
    units = _unit_matrix(counts)
    others = [c for c in counts.by if c != time]
    chosen = others or counts.by
    kept_units, total_groups = _top_units(counts, chosen, top, units[:, 0])
    table = _ShareTable(units, counts.themes, n_boot, seed)
    shares = table.frame(*_grouping(counts, counts.by), kept_units)
    over_time = across_time = None
    if time is not None and others:
        over_time = table.frame(*_grouping(counts, [time]), np.ones(len(units), dtype=bool))
        across_time = table.frame(*_grouping(counts, others), kept_units)
    elif time is not None:
        over_time = shares
    groups = (shares.drop_duplicates(subset=counts.by)[[*counts.by, "sentences", "documents"]]
              .reset_index(drop=True))
    result = make(by=counts.by, time=time, themes=counts.themes, shares=shares,
                     groups=groups, standouts=_standouts(shares, counts.by, n_boot),
                     over_time=over_time, across_time=across_time, overall=_overall(counts),
                     line_themes=[], sentences=counts.sentences, documents=counts.documents,
                     total_groups=total_groups, top=top, sources=[], n_boot=n_boot)
    result.line_themes = line_themes if line_themes is not None else _varying_themes(result)
    return result


def _themes_ordered(counts: Counts) -> Counts:
    """The themes, most frequent primary theme first and ``none`` last."""
    totals = counts.primary.sum(axis=0)
    order = sorted(range(len(counts.themes)),
                   key=lambda j: (counts.themes[j] == NO_THEME, -totals[j], counts.themes[j]))
    return Counts(by=counts.by, values=counts.values,
                   themes=[counts.themes[j] for j in order], docs=counts.docs, keys=counts.keys,
                   n=counts.n, primary=counts.primary[:, order], member=counts.member[:, order],
                   sentences=counts.sentences, documents=counts.documents)


def _unit_matrix(counts: Counts) -> np.ndarray:
    """Per unit: sentences, primary counts, member counts, 1 (a document), then the unit's
    primary and member shares; group sums of these give every share and its replicates."""
    n = counts.n.astype(float)[:, None]
    return np.column_stack([n, counts.primary, counts.member, np.ones_like(n),
                            counts.primary / n, counts.member / n]).astype(float)


def _grouping(counts: Counts, columns: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Each unit's group by ``columns`` (groups in natural order) and the groups' labels."""
    positions = [counts.by.index(c) for c in columns]
    number, unique = factorize_rows(counts.keys[:, positions])
    values = {c: [counts.values[p][code] for code in unique[:, i]]
              for i, (c, p) in enumerate(zip(columns, positions))}
    rows = list(zip(*values.values()))
    order = sorted(range(len(rows)), key=lambda g: tuple(map(natural_key, rows[g])))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    labels = pd.DataFrame({c: [v[g] for g in order] for c, v in values.items()})
    return rank[number], labels


def natural_key(value: str) -> tuple:
    """Sort numbers as numbers (``1990s`` before ``2000s``, ``9`` before ``10``), missing last."""
    if value == MISSING:
        return (2, 0.0, value)
    match = re.match(r"-?\d+(\.\d+)?", value)
    return (0, float(match.group(0)), value) if match else (1, 0.0, value)


def _top_units(counts: Counts, columns: list[str], top: int | None, sentences: np.ndarray
               ) -> tuple[np.ndarray, int]:
    """Which units belong to the ``top`` groups by ``columns`` with the most sentences, and
    how many such groups there are."""
    group, labels = _grouping(counts, columns)
    if top is None or top >= len(labels):
        return np.ones(len(group), dtype=bool), len(labels)
    size = np.bincount(group, weights=sentences, minlength=len(labels))
    largest = np.argsort(-size, kind="stable")[:top]
    return np.isin(group, largest), len(labels)


class _ShareTable:
    """Makes the long tables of shares, intervals and ratios of a grouping of the units."""

    def __init__(self, units: np.ndarray, themes: list[str], n_boot: int, seed: int):
        self.units = units
        self.themes = themes
        self.n_boot = n_boot
        self.seed = seed

    def frame(self, group: np.ndarray, labels: pd.DataFrame, kept_units: np.ndarray
              ) -> pd.DataFrame:
        """One row per kept group and theme (see :attr:`Profile.shares`)."""
        size, width = len(labels), len(self.themes)
        sums = sum_by(group, self.units, size)
        keep = np.zeros(size, dtype=bool)
        keep[group[kept_units]] = True
        point = _statistics(sums, self.units.sum(axis=0), width)
        bounds = _bootstrap(self.units, group, size, keep, width, n_boot=self.n_boot,
                            seed=self.seed)
        rows = np.flatnonzero(keep)
        columns = {c: np.repeat(labels[c].to_numpy(dtype=object)[rows], width)
                   for c in labels.columns}
        columns["theme"] = np.tile(np.array(self.themes, dtype=object), len(rows))
        columns["sentences"] = np.repeat(sums[rows, 0], width).astype(np.int64)
        columns["documents"] = np.repeat(sums[rows, 1 + 2 * width], width).astype(np.int64)
        for name in MEASURES:
            if name in ("primary", "set"):
                offset = 1 if name == "primary" else 1 + width
                columns[f"{name}_n"] = sums[rows, offset:offset + width].ravel().astype(np.int64)
            _add_with_interval(columns, f"{name}_share", point[name], bounds.get(name), rows)
        columns["rest_share"] = point["rest"][rows].ravel()
        _add_with_interval(columns, "ratio", point["ratio"], bounds.get("ratio"), rows)
        return pd.DataFrame(columns)


def _add_with_interval(columns: dict, name: str, values: np.ndarray, bounds, rows) -> None:
    stem = name.removesuffix("_share")
    columns[name] = values[rows].ravel()
    low, high = bounds if bounds is not None else (np.full_like(values, np.nan),) * 2
    columns[f"{stem}_low"] = low[rows].ravel()
    columns[f"{stem}_high"] = high[rows].ravel()


def _statistics(sums: np.ndarray, totals: np.ndarray, width: int) -> dict[str, np.ndarray]:
    """Shares and ratios from group sums of the unit matrix (any leading shape: groups, or
    replicates × groups); ``totals`` are the sums over every unit, broadcast against them."""
    n = sums[..., :1]
    primary = sums[..., 1:1 + width]
    member = sums[..., 1 + width:1 + 2 * width]
    docs = sums[..., 1 + 2 * width:2 + 2 * width]
    doc_primary = sums[..., 2 + 2 * width:2 + 3 * width]
    doc_member = sums[..., 2 + 3 * width:]
    with np.errstate(divide="ignore", invalid="ignore"):
        primary_share = primary / n
        rest = (totals[..., 1:1 + width] - primary) / (totals[..., :1] - n)
        return {"primary": primary_share, "set": member / n, "doc_primary": doc_primary / docs,
                "doc_set": doc_member / docs, "rest": rest, "ratio": primary_share / rest}


def _overall(counts: Counts) -> pd.DataFrame:
    """Every sentence of the input: each theme's count and share, primary and in the set."""
    total = max(int(counts.n.sum()), 1)
    primary, member = counts.primary.sum(axis=0), counts.member.sum(axis=0)
    return pd.DataFrame({"theme": counts.themes, "primary_n": primary.astype(np.int64),
                         "primary_share": primary / total, "set_n": member.astype(np.int64),
                         "set_share": member / total})


def _bootstrap(units: np.ndarray, group: np.ndarray, size: int, keep: np.ndarray, width: int,
               *, n_boot: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Percentile intervals (95 %) of every statistic of :func:`_statistics` for the kept
    groups, NaN for a group of one document.

    Each replicate draws, for every group, as many of its documents as it has, with
    replacement. The ratios need each replicate's totals before any group's statistics, so
    the groups are gone through twice: the draws of the first pass are kept for the second
    when they are small (``KEPT_WEIGHTS``), else drawn again, each chunk of groups with a
    generator seeded by ``seed`` and the chunk's number. Sums are float32: exact for counts
    below 2**24, and the intervals do not need more.
    """
    if n_boot == 0 or not keep.any():
        return {}
    with _one_blas_thread():  # small products: BLAS threads only wait for one another
        return _bootstrap_bounds(units, group, size, keep, width, n_boot=n_boot, seed=seed)


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _bootstrap_bounds(units: np.ndarray, group: np.ndarray, size: int, keep: np.ndarray,
                      width: int, *, n_boot: int, seed: int
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`_bootstrap`'s work."""
    order = np.argsort(group, kind="stable")
    units = units[order].astype(np.float32)
    starts = np.searchsorted(group[order], np.arange(size + 1))
    sizes = np.diff(starts)
    chunks = _boot_chunks(sizes, n_boot, units.shape[1])
    # the weights of pass one are kept for pass two when they are small, else drawn again
    keep_weights = n_boot * len(units) <= KEPT_WEIGHTS
    kept: list[np.ndarray] = []
    totals = np.zeros((n_boot, units.shape[1]), dtype=np.float32)
    for number, (first, last) in enumerate(chunks):
        weights = _weights(seed, number, sizes[first:last], n_boot)
        totals += weights @ units[starts[first]:starts[last]]
        if keep_weights:
            kept.append(weights)
    bounds = {name: (np.full((size, width), np.nan), np.full((size, width), np.nan))
              for name in (*MEASURES, "ratio")}
    for number, (first, last) in enumerate(chunks):
        wanted = np.flatnonzero(keep[first:last] & (sizes[first:last] > 1))
        if not len(wanted):
            continue
        weights = kept[number] if keep_weights else _weights(seed, number, sizes[first:last],
                                                              n_boot)
        sums = _replicate_sums(weights, units[starts[first]:starts[last]], sizes[first:last],
                               wanted)
        stats = _statistics(sums, totals[:, None, :], width)
        for name, (low, high) in bounds.items():
            low[first + wanted], high[first + wanted] = _percentiles(stats[name])
    return bounds


def _boot_chunks(sizes: np.ndarray, n_boot: int, columns: int) -> list[tuple[int, int]]:
    """Runs of groups ``(first, last)`` whose replicate sums and weights fit the budget."""
    max_groups = max(1, BOOT_CELLS // (n_boot * columns))
    max_units = max(1, BOOT_CELLS // n_boot)
    chunks, first, units = [], 0, 0
    for g, count in enumerate(sizes):
        if g > first and (g - first >= max_groups or units + count > max_units):
            chunks.append((first, g))
            first, units = g, 0
        units += int(count)
    if len(sizes):
        chunks.append((first, len(sizes)))
    return chunks


def _weights(seed: int, number: int, sizes: np.ndarray, n_boot: int) -> np.ndarray:
    """How many times each unit of a chunk is drawn in each replicate (n_boot × units): each
    group's units are drawn as many times as it has units, uniformly with replacement."""
    rng = np.random.default_rng([seed, number])
    count = int(sizes.sum())
    owner_size = np.repeat(sizes, sizes).astype(np.float32)
    draws = (rng.random((n_boot, count), dtype=np.float32) * owner_size).astype(np.int64)
    np.minimum(draws, (owner_size - 1).astype(np.int64), out=draws)  # float32 may round up
    draws += np.repeat(np.cumsum(sizes) - sizes, sizes)
    draws += (np.arange(n_boot) * count)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n_boot * count)
    return counts.reshape(n_boot, count).astype(np.float32)


def _replicate_sums(weights: np.ndarray, units: np.ndarray, sizes: np.ndarray,
                    wanted: np.ndarray) -> np.ndarray:
    """Each wanted group's weighted sums of its units, per replicate (n_boot × wanted × K)."""
    starts = np.cumsum(sizes) - sizes
    sums = np.empty((weights.shape[0], len(wanted), units.shape[1]), dtype=np.float32)
    for j, g in enumerate(wanted):
        first, last = starts[g], starts[g] + sizes[g]
        # into a new array, then copied: a product written to a strided slice skips BLAS
        sums[:, j, :] = weights[:, first:last] @ units[first:last]
    return sums


def _percentiles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5th and 97.5th percentiles over the replicates (the first axis), interpolated
    as numpy's default does; NaN replicates (a share of no sentences) are left out."""
    flat = np.sort(np.ascontiguousarray(values.reshape(values.shape[0], -1).T), axis=1)
    valid = (~np.isnan(flat)).sum(axis=1)  # NaN sort last
    rows = np.arange(len(flat))
    bounds = []
    for tail in ((1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2):
        position = tail * np.maximum(valid - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(valid - 1, 0))
        fraction = position - below
        value = flat[rows, below] * (1 - fraction) + flat[rows, above] * fraction
        value[valid == 0] = np.nan
        bounds.append(value.reshape(values.shape[1:]))
    return bounds[0], bounds[1]


def _standouts(shares: pd.DataFrame, by: list[str], n_boot: int) -> pd.DataFrame:
    """Per theme (not ``none``), the groups of two documents or more whose primary share
    stands out most against the rest: ranked by the low end of the ratio's interval (by the
    ratio without intervals), which must be above 1."""
    key = "ratio_low" if n_boot else "ratio"
    candidates = shares[(shares["theme"] != NO_THEME) & (shares["documents"] >= 2)
                        & (shares[key] > 1)]
    ranked = candidates.sort_values(["theme", key], ascending=[True, False], kind="stable")
    best = ranked.groupby("theme", sort=False).head(STANDOUTS_PER_THEME).copy()
    best.insert(1, "rank", best.groupby("theme").cumcount() + 1)
    columns = ["theme", "rank", *by, "sentences", "documents", "primary_n", "primary_share",
               "rest_share", "ratio", "ratio_low", "ratio_high"]
    best = best[columns]
    theme_order = {t: i for i, t in enumerate(shares["theme"].drop_duplicates())}
    best = best.sort_values(["theme", "rank"], key=lambda s: s.map(theme_order)
                            if s.name == "theme" else s, kind="stable")
    return best.reset_index(drop=True)


def _varying_themes(result) -> list[str]:
    """The themes (not ``none``) whose primary share varies most over time."""
    if result.over_time is None:
        return []
    wide = result.wide("primary_share", table="over_time")
    wide = wide[[t for t in wide.columns if t != NO_THEME]]
    wide = wide[[MISSING not in (i if isinstance(i, tuple) else (i,)) for i in wide.index]]
    if wide.empty:
        return []
    spread = (wide.max() - wide.min()).sort_values(ascending=False, kind="stable")
    return list(spread.index[:LINE_THEMES])
