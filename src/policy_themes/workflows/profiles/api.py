"""Theme profiles: :class:`Profile` and :func:`profile`, and writing a profile's folder."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from policy_themes.errors import DataError
from policy_themes.workflows.profiles.pictures import plot_heatmap, plot_lines, plot_standouts
from policy_themes.workflows.profiles.reading import (
    BINS,
    DOC_COLUMN,
    TABLE_FORMATS,
    TIME_NAMES,
    _binned,
    input_paths,
    read_counts,
)
from policy_themes.workflows.profiles.shares import build_profile
from policy_themes.workflows.profiles.text import _markdown, _summary


@dataclass
class Profile:
    """Theme profiles of groups of predictions (see :func:`profile`).

    Attributes
    ----------
    by : list of str
        The group columns of the tables (a binned column under its new name: ``decade``).
    time : str or None
        The column read as time (binned, or named year, decade, date, period or month).
    themes : list of str
        Theme ids, most frequent primary theme first, ``none`` last.
    shares : DataFrame
        One row per group and theme: the ``by`` columns, ``theme``, ``sentences`` and
        ``documents`` of the group; ``primary_n``, ``primary_share`` (share of the group's
        sentences with this primary theme), ``set_n``, ``set_share`` (whose theme set holds
        it), ``doc_primary_share`` and ``doc_set_share`` (the mean over the group's documents),
        each share with ``_low`` and ``_high`` (95 % bootstrap interval over documents; NaN for
        a group of one document); ``rest_share`` (the primary share among every other sentence
        of the input) and ``ratio`` = ``primary_share`` / ``rest_share`` with its interval.
    groups : DataFrame
        One row per group: the ``by`` columns, ``sentences``, ``documents``.
    standouts : DataFrame
        For each theme but ``none``, the groups (of ``shares``) whose ratio stands out most:
        ranked by the low end of its interval, which must be above 1.
    over_time : DataFrame or None
        As ``shares``, by the time column alone, over every group of the input.
    across_time : DataFrame or None
        As ``shares``, by the other ``by`` columns (the heat map's rows), when ``by`` holds
        the time column and others.
    overall : DataFrame
        Every sentence of the input together: per theme ``primary_n``, ``primary_share``,
        ``set_n`` and ``set_share``.
    line_themes : list of str
        The themes drawn over time.
    sentences, documents : int
        Sentences and documents read.
    total_groups : int
        Groups before ``top`` kept the largest.
    top : int or None
        How many of the largest groups were kept.
    sources : list of str
        The files read.
    n_boot : int
        Bootstrap replicates.
    files : dict of str to Path
        What :meth:`write` wrote.
    """

    by: list[str]
    time: str | None
    themes: list[str]
    shares: pd.DataFrame
    groups: pd.DataFrame
    standouts: pd.DataFrame
    over_time: pd.DataFrame | None
    across_time: pd.DataFrame | None
    overall: pd.DataFrame
    line_themes: list[str]
    sentences: int
    documents: int
    total_groups: int
    top: int | None
    sources: list[str]
    n_boot: int
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def group_columns(self) -> list[str]:
        """The ``by`` columns but the time column: what a group is, across time."""
        return [c for c in self.by if c != self.time]

    def wide(self, value: str = "primary_share", *, table: str = "shares") -> pd.DataFrame:
        """One of a table's columns as groups × themes (rows indexed by the group columns).

        Parameters
        ----------
        value : str, default="primary_share"
            A column of the table: a share, a count, an interval end or ``ratio``.
        table : str, default="shares"
            ``shares``, ``over_time`` or ``across_time``.
        """
        frame = getattr(self, table)
        if frame is None or value not in frame.columns:
            raise DataError(f"the profile has no {table!r} table with a {value!r} column")
        keys = [c for c in frame.columns if c in self.by]
        wide = frame.pivot(index=keys, columns="theme", values=value)
        return wide[[t for t in self.themes if t in wide.columns]]

    def summary(self) -> list[str]:
        """A few sentences on what stands out, as in ``profile.md`` (Markdown)."""
        return _summary(self)

    def to_markdown(self, figures: Mapping[str, str] | None = None) -> str:
        """The ``profile.md`` text: the summary, the pictures (``figures``: name → relative
        path) and compact tables."""
        return _markdown(self, figures or {})

    def write(self, out_dir: str | Path, *, format: str = "csv") -> dict[str, Path]:
        """Write the tables, the pictures and ``profile.md`` into ``out_dir``.

        Parameters
        ----------
        out_dir : str or Path
            The folder; created if missing (its parent must exist).
        format : {"csv", "parquet"}, default="csv"
            The tables' format.

        Returns
        -------
        dict of str to Path
            Every file written, by name (``shares``, ``heatmap``, ``markdown``, ...).

        Raises
        ------
        DataError
            If the format is unknown or the folder cannot be made or written.
        """
        self.files = _write_profile(self, Path(out_dir), format)
        return self.files


def profile(
    predictions: str | Path | Sequence[str | Path],
    *,
    by: Sequence[str],
    bins: Mapping[str, str] | str | None = None,
    top: int | None = None,
    themes: Sequence[str] | None = None,
    doc_column: str = DOC_COLUMN,
    out_dir: str | Path | None = None,
    format: str = "csv",
    n_boot: int = 1000,
    seed: int = 0,
) -> Profile:
    """Profile predictions: theme shares per group, with bootstrap intervals and standouts.

    Parameters
    ----------
    predictions : str, Path or sequence of them
        Files written by ``predict`` (CSV, TSV, JSONL, Parquet; ``.gz`` allowed), or folders of
        Parquet parts (``predict --engine dask``). They need ``doc_id``, the ``by`` columns,
        ``primary`` and ``themes`` (``;``-joined ids, or lists); ``model_primary`` and
        ``model_themes`` are read instead when present.
    by : sequence of str
        The columns that make a group (one or more).
    bins : mapping of str to str, or str, default=None
        Columns of ``by`` to bin, e.g. ``{"year": "decade"}``: the column ``decade`` (values
        like ``1990s``) replaces ``year``. Years may be numbers or dates. A string is
        ``"year=decade"``, or ``"decade"`` for the ``by`` column named year, decade, date,
        period or month.
    top : int, default=None
        Keep the ``top`` groups with the most sentences. With a time column among ``by``, a
        group is the other columns' values (``--by iso3 --by year --top 20``: 20 countries,
        every decade). The ratios still compare with every other sentence of the input.
    themes : sequence of str, default=None
        Themes to draw over time [default: the four whose primary share varies most]. Needs a
        time column among ``by``.
    doc_column : str, default="doc_id"
        The column naming each sentence's document: the unit the bootstrap resamples.
    out_dir : str or Path, default=None
        Write the tables, pictures and ``profile.md`` here (see :meth:`Profile.write`).
    format : {"csv", "parquet"}, default="csv"
        The tables' format when writing.
    n_boot : int, default=1000
        Bootstrap replicates (0: no intervals).
    seed : int, default=0
        Seed of the bootstrap's random numbers: the same seed gives the same intervals.

    Returns
    -------
    Profile

    Raises
    ------
    DataError
        If a file is missing, empty or malformed, lacks a column, a year cannot be binned, a
        theme is unknown or an option is invalid.

    Examples
    --------
    >>> result = profile("predicted.parquet", by=["iso3", "year"],
    ...                  bins={"year": "decade"}, top=20)               # doctest: +SKIP
    >>> result.wide("primary_share").round(3)                           # doctest: +SKIP
    """
    by, bins = _check_options(by, bins, top, n_boot, format, doc_column)
    paths = input_paths(predictions)
    counts = read_counts(paths, doc_column, by)
    counts = _binned(counts, bins)
    time = _time_column(counts.by, bins)
    line_themes = _line_themes_check(themes, counts.themes, time)
    result = build_profile(counts, time=time, top=top, line_themes=line_themes,
                            n_boot=n_boot, seed=seed, make=Profile)
    result.sources = [str(p) for p in paths]
    if out_dir is not None:
        result.write(out_dir, format=format)
    return result


def _check_options(by, bins, top, n_boot, fmt, doc_column) -> tuple[list[str], dict[str, str]]:
    """The options, checked before anything is read."""
    by = [str(c) for c in ([by] if isinstance(by, str) else list(by or []))]
    if not by:
        raise DataError("give at least one column to group by (--by COLUMN)")
    twice = sorted({c for c in by if by.count(c) > 1})
    if twice:
        raise DataError(f"--by names {twice[0]!r} twice")
    bins = _resolve_bins(bins, by)
    for column, kind in bins.items():
        if column not in by:
            raise DataError(f"cannot bin {column!r}: it is not one of the --by columns "
                            f"({', '.join(by)})")
        if kind not in BINS:
            raise DataError(f"unknown bin {kind!r} for {column!r} (use one of "
                            f"{', '.join(BINS)})")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise DataError(f"top must be a whole number of groups ≥ 1, got {top!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise DataError(f"n_boot must be a whole number ≥ 0, got {n_boot!r}")
    if fmt not in TABLE_FORMATS:
        raise DataError(f"the tables' format must be csv or parquet, got {fmt!r}")
    if doc_column in by:
        raise DataError(f"{doc_column!r} names the documents; it cannot also be a --by column")
    names = [bins.get(c, c) for c in by]
    clash = sorted({c for c in names if names.count(c) > 1})
    if clash:
        raise DataError(f"binning makes a second {clash[0]!r} column; group by one of them")
    return by, bins


def _resolve_bins(bins, by: list[str]) -> dict[str, str]:
    """``bins`` as ``{column: kind}``: a mapping as it is; ``"decade"`` for the --by column
    named like time (year, date, ...); ``"year=decade"``."""
    if bins is None or isinstance(bins, Mapping):
        return dict(bins or {})
    column, sep, kind = str(bins).rpartition("=")
    if sep:
        return {column.strip(): kind.strip()}
    kind = kind.strip()
    if kind not in BINS:
        raise DataError(f"unknown bin {kind!r} (use one of {', '.join(BINS)})")
    timely = [c for c in by if c.lower() in TIME_NAMES]
    if not timely:
        raise DataError(f"--bin {kind} needs a year column among --by ({', '.join(by)}); "
                        f"name it: --bin COLUMN={kind}")
    return {timely[0]: kind}


def _time_column(names: list[str], bins: Mapping[str, str]) -> str | None:
    """The column read as time: a binned one, else the first named like time."""
    binned = [bins[c] for c in bins]
    for name in names:
        if name in binned:
            return name
    for name in names:
        if name.lower() in TIME_NAMES:
            return name
    return None


def _line_themes_check(themes, known: list[str], time: str | None) -> list[str] | None:
    """The themes asked for, checked against those of the predictions (None: not asked)."""
    if themes is None:
        return None
    themes = [t.strip() for t in ([themes] if isinstance(themes, str) else themes) if t.strip()]
    unknown = [t for t in themes if t not in known]
    if unknown:
        raise DataError(f"unknown theme {unknown[0]!r} (themes in the predictions: "
                        f"{', '.join(sorted(known))})")
    if time is None:
        raise DataError("themes are drawn over time: add a time column to --by (year, "
                        "decade, date, period or month), binned with --bin decade if you like")
    return themes


_TABLES = ("shares", "groups", "standouts", "over_time", "across_time", "overall")


_FIGURES = (("heatmap", plot_heatmap), ("over_time", plot_lines),
            ("standouts", plot_standouts))


def _write_profile(result: Profile, out_dir: Path, fmt: str) -> dict[str, Path]:
    """Write the tables, the pictures and profile.md, each atomically."""
    from policy_themes.io.writers import AtomicTableWriter, atomic_write_text

    if fmt not in TABLE_FORMATS:
        raise DataError(f"the tables' format must be csv or parquet, got {fmt!r}")
    _make_folder(out_dir)
    files: dict[str, Path] = {}
    for name in _TABLES:
        frame = getattr(result, name)
        if frame is None or (name == "over_time" and frame is result.shares):
            continue
        with AtomicTableWriter(out_dir / f"{name}.{fmt}") as writer:
            writer.write(frame.round(6))
        files[name] = out_dir / f"{name}.{fmt}"
    for name, draw in _FIGURES:
        target = out_dir / f"{name}.png"
        if _draw_atomically(draw, result, target):
            files[f"{name}_png"] = target
    result.files = files
    markdown = out_dir / "profile.md"
    figures = {key.removesuffix("_png"): path.name for key, path in files.items()
               if key.endswith("_png")}
    files["markdown"] = markdown
    atomic_write_text(markdown, result.to_markdown(figures))
    return files


def _draw_atomically(draw, result: Profile, target: Path) -> bool:
    """Draw a picture into a temporary file renamed over ``target`` when complete."""
    from policy_themes.io.writers import atomic_path

    temporary = atomic_path(target)
    try:
        drawn = draw(result, temporary)
        if drawn:
            os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
    return drawn


def _make_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    if folder.exists():
        raise DataError(f"{folder}: exists and is not a folder; choose another output folder")
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"{folder}: cannot create the output folder, {parent} does not exist")
    try:
        folder.mkdir()
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") \
            from None
