"""Bring your own codebook: see a taxonomy's themes, and start a taxonomy file from scratch.

:func:`describe_themes` is the table of ``policy-themes themes``: every theme with its name,
description and rules, and with labeled data how many sentences each theme has.
:func:`init_taxonomy` writes the skeleton of ``policy-themes init``: a taxonomy YAML file with
one entry per theme (from theme ids or names, or from a labeled table's label column), ``none``
last, empty descriptions to fill and comments saying what each field does. The file loads as it
is, so a model can be trained with it at once; rules come later, by hand or from
:func:`~policy_themes.workflows.rule_suggestions.suggest_rules`.

:func:`taxonomy_yaml` writes any taxonomy as YAML in that layout (used by both, and by
``policy-themes rules suggest --out``).
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from policy_themes.errors import DataError
from policy_themes.io.tables import THEME_COL, THEMES_COL, read_table
from policy_themes.io.writers import atomic_write_text, check_writable
from policy_themes.rules.taxonomy import NO_THEME, THEME_SEP, Taxonomy, Theme, load_taxonomy

__all__ = [
    "ThemesOverview",
    "describe_themes",
    "ThemeDraft",
    "draft_themes",
    "draft_themes_from_labels",
    "taxonomy_skeleton",
    "InitResult",
    "init_taxonomy",
    "taxonomy_yaml",
]

#: Fewer labeled sentences than this for a theme is noted: 5-fold cross-validation needs 5.
FEW_EXAMPLES = 5
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_NONE_NAME = "No theme"
_NONE_DESCRIPTION = "No theme of the codebook applies."


# --- the themes table ------------------------------------------------------------------------

@dataclass
class ThemesOverview:
    """A taxonomy's themes as a table, and what stands out in them.

    Attributes
    ----------
    taxonomy : Taxonomy
    table : DataFrame
        One row per theme (index ``id``, ``none`` last): ``name``, ``description``, ``rules``
        (how many), ``patterns`` (how many, over its rules); with labeled data also
        ``labeled`` (sentences whose theme set has the theme), ``share`` (of all sentences)
        and, when some sentence has several themes, ``primary`` (sentences whose first theme
        it is).
    data : str or None
        The labeled table counted, if any.
    n_sentences : int or None
        Its sentences.
    notes : list of str
        Themes without a description; with data, themes with no or few labeled sentences.
    """

    taxonomy: Taxonomy
    table: pd.DataFrame
    data: str | None = None
    n_sentences: int | None = None
    notes: list[str] = field(default_factory=list)


def describe_themes(taxonomy: str | Path | Taxonomy | None = None,
                    data: str | Path | None = None, *, text_column: str = "text",
                    label_column: str | None = None,
                    encoding: str | None = None) -> ThemesOverview:
    """Tabulate a taxonomy's themes, with their labeled sentences when ``data`` is given.

    Parameters
    ----------
    taxonomy : str, Path or Taxonomy, default=None
        The taxonomy; None takes the shipped default.
    data : str or Path, default=None
        A labeled table (text + themes) to count sentences per theme in.
    text_column : str, default="text"
        Its text column.
    label_column : str, default=None
        Its label column; None looks for ``themes``, then ``theme``.
    encoding : str, default=None
        Its text encoding.

    Returns
    -------
    ThemesOverview

    Raises
    ------
    ConfigError
        If the taxonomy is invalid.
    DataError
        If the table is unreadable or has a label the taxonomy does not know.

    Examples
    --------
    >>> overview = describe_themes()
    >>> int(overview.table.loc["energy_diplomacy", "rules"]) > 0
    True
    """
    from policy_themes.io.labels import read_labeled

    taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    table = pd.DataFrame(
        {"name": [t.name for t in taxonomy.themes],
         "description": [t.description for t in taxonomy.themes],
         "rules": [len(t.rules) for t in taxonomy.themes],
         "patterns": [sum(len(r.patterns) for r in t.rules) for t in taxonomy.themes]},
        index=pd.Index(taxonomy.ids, name="id"))
    notes = _description_notes(taxonomy)
    if data is None:
        return ThemesOverview(taxonomy, table, notes=notes)
    frame = read_labeled(data, taxonomy, text_column=text_column, label_column=label_column,
                         encoding=encoding)
    table = _add_counts(table, frame["themes"].tolist())
    notes += _example_notes(table)
    return ThemesOverview(taxonomy, table, str(data), len(frame), notes)


def _add_counts(table: pd.DataFrame, themes: list[list[str]]) -> pd.DataFrame:
    """Add ``labeled``, ``share`` and (for multi-theme data) ``primary`` per theme."""
    labeled = pd.Series([t for row in themes for t in row]).value_counts()
    primary = pd.Series([row[0] for row in themes]).value_counts()
    table = table.copy()
    table["labeled"] = labeled.reindex(table.index, fill_value=0).astype(int)
    table["share"] = table["labeled"] / max(len(themes), 1)
    if any(len(row) > 1 for row in themes):
        table["primary"] = primary.reindex(table.index, fill_value=0).astype(int)
    return table


def _description_notes(taxonomy: Taxonomy) -> list[str]:
    empty = [t.id for t in taxonomy.themes if not t.description]
    if not empty:
        return []
    where = f" in {taxonomy.source}" if taxonomy.source else ""
    return [f"{len(empty)} theme{'s' if len(empty) > 1 else ''} without a description yet "
            f"({', '.join(empty)}): say what a sentence must be about to get each{where}"]


def _example_notes(table: pd.DataFrame) -> list[str]:
    counts = table["primary"] if "primary" in table.columns else table["labeled"]
    notes = []
    missing = counts.index[counts == 0].tolist()
    if missing:
        notes.append(f"no labeled sentence for {', '.join(missing)}: a model cannot learn "
                     "what it has not seen")
    few = counts[(counts > 0) & (counts < FEW_EXAMPLES)]
    if len(few):
        listed = ", ".join(f"{k} ({v})" for k, v in few.items())
        notes.append(f"fewer than {FEW_EXAMPLES} labeled sentences as primary theme: {listed}; "
                     f"training's {FEW_EXAMPLES}-fold cross-validation needs "
                     f"{FEW_EXAMPLES} (or --folds)")
    return notes


# --- drafting themes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ThemeDraft:
    """A theme to be written into a new taxonomy file.

    Attributes
    ----------
    id : str
        The theme id (lower-case letters, digits, ``_``).
    name : str
        Its human name; a labeled table's label when it was drafted from one (so the table's
        labels are read as this theme).
    count : int or None
        Labeled sentences with it, when drafted from a table.
    """

    id: str
    name: str
    count: int | None = None


def draft_themes(themes: Sequence[str], *, none_label: str = NO_THEME) -> list[ThemeDraft]:
    """Draft themes from ids (``energy_security``) or names (``"Energy security"``).

    An id gets a name made from it (``Energy security``); a name gets an id made from it
    (``energy_security``) and keeps its spelling as the name. ``none_label`` (``none`` by
    default, any case) is the ``none`` theme, added last in any case.

    Raises
    ------
    DataError
        If no theme is given, or two give the same id.

    Examples
    --------
    >>> [d.id for d in draft_themes(["energy_security", "Trade & investment"])]
    ['energy_security', 'trade_investment', 'none']
    """
    labels = [str(t).strip() for t in themes if str(t).strip()]
    if not labels:
        raise DataError("no themes given: name at least one theme id, or use --from-labels")
    given = _theme_ids(labels, none_label, unique=False)
    seen: dict[str, str] = {}
    for label, theme_id in zip(labels, given):
        if theme_id in seen:
            raise DataError(f"themes {seen[theme_id]!r} and {label!r} both make the id "
                            f"'{theme_id}': give distinct themes")
        seen[theme_id] = label
    return _with_none([ThemeDraft(i, _theme_name(label, i), None)
                       for label, i in zip(labels, given)], none_label)


def draft_themes_from_labels(path: str | Path, *, label_column: str | None = None,
                             none_label: str = NO_THEME,
                             encoding: str | None = None) -> list[ThemeDraft]:
    """Draft one theme per distinct label of a labeled table, the most frequent first.

    Parameters
    ----------
    path : str or Path
        The table (CSV, TSV, JSONL, Parquet).
    label_column : str, default=None
        The label column; None looks for ``themes``, then ``theme``. A cell may hold several
        labels joined by ``;``.
    none_label : str, default="none"
        The label that means no theme (any case); it becomes the ``none`` theme.
    encoding : str, default=None
        Text encoding of the table.

    Returns
    -------
    list of ThemeDraft
        Labels that are valid ids keep them; other labels (``Protectionism: Positive``) get
        an id made from them and keep their spelling as the theme's name, so the table can be
        used for training as it is. ``none`` is last.

    Raises
    ------
    DataError
        If the table is unreadable, has no label column or no label.
    """
    frame = read_table(path, encoding=encoding)
    column = label_column or (THEMES_COL if THEMES_COL in frame.columns else THEME_COL)
    if column not in frame.columns:
        have = ", ".join(map(str, frame.columns))
        raise DataError(f"{path}: no label column '{column}' (columns: {have}); "
                        "name it with --label-column")
    counts: dict[str, int] = {}
    for cell in frame[column].dropna():
        for label in dict.fromkeys(p.strip() for p in _label_text(cell).split(THEME_SEP)):
            if label:
                counts[label] = counts.get(label, 0) + 1
    if not counts:
        raise DataError(f"{path}: column '{column}' holds no label")
    labels = sorted(counts, key=lambda label: -counts[label])
    ids = _theme_ids(labels, none_label, unique=True)
    drafts = [ThemeDraft(i, _theme_name(label, i), counts[label]) for label, i in zip(labels, ids)]
    return _with_none(drafts, none_label)


def _label_text(cell: object) -> str:
    """A label cell as text (a whole float from a numeric column without its ``.0``)."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _theme_ids(labels: list[str], none_label: str, *, unique: bool) -> list[str]:
    """An id per label: the label when it is one, else made from it; ``none`` for none_label."""
    ids: list[str] = []
    for label in labels:
        if label.casefold() == none_label.casefold():
            ids.append(NO_THEME)
            continue
        theme_id = label if _ID_RE.match(label) else _make_id(label)
        if unique:
            base, number = theme_id, 2
            while theme_id in ids or theme_id == NO_THEME:
                theme_id, number = f"{base}_{number}", number + 1
        ids.append(theme_id)
    return ids


def _make_id(label: str) -> str:
    """``Protectionism: Positive`` -> ``protectionism_positive``; ``19`` -> ``theme_19``."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug if slug[:1].isalpha() else f"theme_{slug}".rstrip("_")


def _theme_name(label: str, theme_id: str) -> str:
    if theme_id == NO_THEME:
        return _NONE_NAME if label.casefold() == NO_THEME else label
    return theme_id.replace("_", " ").capitalize() if label == theme_id else label


def _with_none(drafts: list[ThemeDraft], none_label: str) -> list[ThemeDraft]:
    """The drafts with the ``none`` theme last (made when no label was it)."""
    none = [d for d in drafts if d.id == NO_THEME]
    others = [d for d in drafts if d.id != NO_THEME]
    if not others:
        raise DataError(f"a taxonomy needs at least one theme besides '{NO_THEME}' "
                        f"({none_label!r} is the no-theme label)")
    return others + (none or [ThemeDraft(NO_THEME, _NONE_NAME, None)])


# --- writing taxonomy files --------------------------------------------------------------------

FIELDS_HELP = """\
What each field does:
  name          the taxonomy's name; a model trained with it records it
  themes        one entry per theme; `none` (no theme applies) is always there, last
    id          lower-case letters, digits and _: what labeled tables and predictions hold
                (a labeled table may give the theme's name instead)
    name        a short human name, shown in tables and reports
    description what a sentence must be about to get the theme: for the people who label
                sentences and read reports (the model does not read it); may stay empty
    rules       optional labeling rules. A rule fires when one of its patterns matches a
                sentence: `policy-themes label` labels with the rules alone, and the model
                counts their votes as features. A rule reads:
                  - name: energy_words            # unique in the file
                    patterns: ["natural gas", "pipeline*", "re:\\\\blng\\\\b"]
                    exclude: ["gas station*"]     # cancels a match it overlaps (optional)
                    weight: 1                     # strength of a match (optional, default 1)
                Phrases match whole words in any case, punctuation ignored: `word*` matches
                any word starting so, `*` alone any one word, `a|b` either word; `re:` starts a
                regular expression."""


def taxonomy_skeleton(drafts: Sequence[ThemeDraft], *, name: str = "my-codebook",
                      out_name: str = "taxonomy.yaml", source: str | None = None,
                      label_column: str | None = None) -> str:
    """The text of a new taxonomy file: the drafted themes, empty descriptions, comments.

    Parameters
    ----------
    drafts : sequence of ThemeDraft
        The themes, ``none`` last (:func:`draft_themes`, :func:`draft_themes_from_labels`).
    name : str, default="my-codebook"
        The taxonomy's name.
    out_name : str, default="taxonomy.yaml"
        The file's name, for the commands its comments suggest.
    source : str, default=None
        The labeled table the themes come from, named in the comments.
    label_column : str, default=None
        Its label column, when not the default.

    Returns
    -------
    str
        YAML that :func:`~policy_themes.rules.taxonomy.load_taxonomy` loads as it is.
    """
    themes = tuple(Theme(d.id, d.name, _NONE_DESCRIPTION if d.id == NO_THEME else "")
                   for d in drafts)
    data = source or "LABELED.csv"
    labels = f" --label-column {label_column}" if label_column else ""
    header = (
        "Taxonomy (codebook) for policy-themes, written by `policy-themes init`. Fill in each "
        "theme's\ndescription; add rules if you like. Then see the themes and their labeled "
        "sentences, get\nrules suggested from them, and train a model:\n"
        f"  policy-themes themes --taxonomy {out_name} --data {data}{labels}\n"
        f"  policy-themes rules suggest {data} --taxonomy {out_name}{labels}\n"
        f"  policy-themes train {data} --taxonomy {out_name}{labels} --model-dir models/mine\n"
        f"\n{FIELDS_HELP}")
    notes = {}
    for draft in drafts:
        if draft.count is not None:
            notes[draft.id] = (f"{draft.count:,} labeled sentence{'s' if draft.count != 1 else ''}"
                               f" in {Path(source).name if source else 'the table'}")
    return taxonomy_yaml(Taxonomy(themes, name=name), header=header, theme_notes=notes)


def taxonomy_yaml(taxonomy: Taxonomy, *, header: str = "",
                  theme_notes: dict[str, str] | None = None,
                  pattern_notes: dict[tuple[str, str], str] | None = None) -> str:
    """Write a taxonomy as YAML text, with comments.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy (its ``none`` theme is written too).
    header : str, default=""
        Comment lines at the top of the file.
    theme_notes : dict of str to str, default=None
        A comment after a theme's ``id`` line, by theme id.
    pattern_notes : dict of (str, str) to str, default=None
        A comment after a pattern, by (rule name, pattern); a rule with notes has its patterns
        written one per line.

    Returns
    -------
    str
        YAML that :func:`~policy_themes.rules.taxonomy.load_taxonomy` reads back to an equal
        taxonomy.
    """
    lines = [("# " + line).rstrip() for line in header.splitlines()] if header else []
    if lines:
        lines.append("")
    lines += [f"name: {yaml_string(taxonomy.name)}", "themes:"]
    for theme in taxonomy.themes:
        note = (theme_notes or {}).get(theme.id)
        lines.append(f"  - id: {theme.id}" + (f"   # {note}" if note else ""))
        lines.append(f"    name: {yaml_string(theme.name)}")
        lines += _description_lines(theme.description)
        if theme.id == NO_THEME:
            continue
        if not theme.rules:
            lines.append("    rules: []")
            continue
        lines.append("    rules:")
        for rule in theme.rules:
            lines += _rule_lines(rule, pattern_notes or {})
    return "\n".join(lines) + "\n"


def _description_lines(description: str) -> list[str]:
    if len(description) <= 76:
        return [f"    description: {yaml_string(description)}"]
    wrapped = textwrap.wrap(description, width=90, break_long_words=False,
                            break_on_hyphens=False)
    return ["    description: >-"] + [f"      {line}" for line in wrapped]


def _rule_lines(rule, pattern_notes: dict[tuple[str, str], str]) -> list[str]:
    lines = [f"      - name: {yaml_string(rule.name)}"]
    if rule.weight != 1.0:
        lines.append(f"        weight: {rule.weight:g}")
    if any((rule.name, p) in pattern_notes for p in rule.patterns):
        lines.append("        patterns:")
        for pattern in rule.patterns:
            note = pattern_notes.get((rule.name, pattern))
            lines.append(f"          - {yaml_string(pattern)}" + (f"   # {note}" if note else ""))
    else:
        lines.append(f"        patterns: [{', '.join(map(yaml_string, rule.patterns))}]")
    if rule.exclude:
        lines.append(f"        exclude: [{', '.join(map(yaml_string, rule.exclude))}]")
    return lines


def yaml_string(text: str) -> str:
    """``text`` as a YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(text, ensure_ascii=False)


# --- init ------------------------------------------------------------------------------------

@dataclass
class InitResult:
    """What :func:`init_taxonomy` wrote.

    Attributes
    ----------
    path : Path
        The taxonomy file.
    taxonomy : Taxonomy
        The file as loaded back.
    drafts : list of ThemeDraft
        Its themes, with the labeled sentences of each when drafted from a table.
    """

    path: Path
    taxonomy: Taxonomy
    drafts: list[ThemeDraft]


def init_taxonomy(out: str | Path, themes: Sequence[str] | None = None, *,
                  from_labels: str | Path | None = None, label_column: str | None = None,
                  none_label: str = NO_THEME, name: str | None = None,
                  encoding: str | None = None, overwrite: bool = False) -> InitResult:
    """Write a new taxonomy file from theme ids or names, or from a labeled table's labels.

    Parameters
    ----------
    out : str or Path
        The file to write (atomically).
    themes : sequence of str, default=None
        Theme ids or names (:func:`draft_themes`).
    from_labels : str or Path, default=None
        A labeled table whose distinct labels become the themes
        (:func:`draft_themes_from_labels`).
    label_column : str, default=None
        With ``from_labels``: its label column.
    none_label : str, default="none"
        The label (or theme given) that means no theme.
    name : str, default=None
        The taxonomy's name; None takes the name of ``out``'s folder, or ``my-codebook``.
    encoding : str, default=None
        With ``from_labels``: the table's text encoding.
    overwrite : bool, default=False
        Replace ``out`` when it exists.

    Returns
    -------
    InitResult

    Raises
    ------
    DataError
        If both or neither of ``themes`` and ``from_labels`` are given, ``out`` exists (and
        not ``overwrite``) or cannot be written, or the table cannot be read.

    Examples
    --------
    >>> result = init_taxonomy("taxonomy.yaml", ["energy_security", "trade"])  # doctest: +SKIP
    >>> result.taxonomy.ids                                                  # doctest: +SKIP
    ['energy_security', 'trade', 'none']
    """
    out = Path(out)
    if bool(themes) == (from_labels is not None):
        raise DataError("give theme ids or --from-labels TABLE (one of them)")
    check_new_file(out, overwrite=overwrite)
    if from_labels is not None:
        drafts = draft_themes_from_labels(from_labels, label_column=label_column,
                                          none_label=none_label, encoding=encoding)
    else:
        drafts = draft_themes(themes, none_label=none_label)
    name = name or _default_name(out)
    text = taxonomy_skeleton(drafts, name=name, out_name=str(out),
                             source=None if from_labels is None else str(from_labels),
                             label_column=label_column)
    atomic_write_text(out, text)
    return InitResult(out, load_taxonomy(out), drafts)


def check_new_file(out: Path, *, overwrite: bool) -> None:
    """Check that ``out`` can be written and, unless ``overwrite``, does not exist yet."""
    check_writable(out)
    if out.exists() and not overwrite:
        raise DataError(f"{out}: exists already; give a new file name, or --force to replace "
                        "it")


def _default_name(out: Path) -> str:
    folder = out.resolve().parent.name
    return _make_id(folder).replace("_", "-") if folder and folder[:1].isalpha() else \
        "my-codebook"
