"""Load and validate a taxonomy config: theme ids, names, descriptions and labeling rules.

A taxonomy file is YAML::

    name: default
    themes:
      - id: energy_diplomacy
        name: Energy diplomacy
        description: oil, gas, pipelines, energy security ...
        rules:
          - name: energy_hydrocarbons
            patterns: ["oil", "natural gas", "pipeline*", "re:\\bLNG\\b"]
            exclude: ["with great energy"]

Patterns are matched case-insensitively on whole words, punctuation ignored (``U.N.`` is the
words "u n"). In a phrase, ``word*`` matches any word starting so (``cooperat*`` matches
cooperation, cooperating ...), ``*`` alone matches any one word, ``a|b`` matches either
alternative (join the words of a multi-word alternative with ``_``: ``un|african_union``), and a
hyphen is optional (``multi-vector`` matches "multi vector" and "multivector"). A pattern
starting with ``re:`` is a regular expression in RE2's syntax, run on one normalised sentence
(lower case, each run of other characters than letters and digits replaced by one space, a
space at both ends): RE2 matches in time linear in the text, and has no backreferences or
lookarounds, which are refused when the taxonomy is loaded; ``^`` and ``$`` match at the
sentence's start and end; ``\\w``, ``\\d`` and ``\\b`` know ASCII only (``\\pL`` is a letter of
any script; in normalised text a space marks every word boundary). An exclusion pattern cancels a
rule's match that it overlaps.

A taxonomy a model carries is checked as strictly as a file when the model is loaded
(:func:`taxonomy_from_dict`).

``id`` and ``name`` are required; ``description`` (for people: reports, ``policy-themes themes``)
may be empty or left out, and ``rules`` too (a theme learned from labeled sentences alone).
A theme ``none`` (no theme applies) is added last when the file does not define it. A file with
several problems gets one error naming them all.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from policy_themes.config import unknown_keys
from policy_themes.errors import ConfigError
from policy_themes.limits import MAX_REGEX_PATTERNS, MAX_THEMES, load_yaml
from policy_themes.resources import resource_path

__all__ = [
    "NO_THEME",
    "THEME_SEP",
    "Rule",
    "Theme",
    "Taxonomy",
    "load_taxonomy",
    "default_taxonomy_path",
    "compile_pattern",
    "taxonomy_to_dict",
    "taxonomy_from_dict",
    "check_taxonomy",
]

NO_THEME = "none"
THEME_SEP = ";"  # joins the ids of a theme set in a table cell
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"name", "version", "description", "themes"}
_THEME_KEYS = {"id", "name", "description", "rules"}
_THEME_REQUIRED = ("id", "name")  # a description may be empty: it is for people
_RULE_KEYS = {"name", "patterns", "exclude", "weight"}


def default_taxonomy_path() -> Path:
    """Return the path of the taxonomy shipped with the package (the default taxonomy)."""
    return resource_path("configs/themes.yaml")


def compile_pattern(pattern: str):
    """Compile one rule pattern into a regular expression (RE2) over *normalised* text.

    Text is normalised by :func:`policy_themes.rules.matching.normalize_text` (lower case, runs of
    non-alphanumeric characters as one space, padded with spaces) before patterns are matched.

    Parameters
    ----------
    pattern : str
        A phrase or ``re:<regex>``. In a phrase, ``*`` alone is any one word, ``word*`` any word
        starting so, ``a|b`` either alternative (``_`` joins the words of a multi-word
        alternative: ``un|african_union``), and a hyphen is optional.

    Returns
    -------
    re2 regex
        With ``search``, ``match`` and ``finditer`` as in :mod:`re`. For a phrase, an expression
        matching any of its variants (with the spaces around it); for ``re:``, the regex as
        :func:`~policy_themes.rules.patterns.compile_rule_regex` compiles it.

    Raises
    ------
    ValueError
        If a phrase is empty, starts with a bare ``*`` or expands to too many phrases, or RE2
        cannot run a ``re:`` pattern (invalid, a backreference or lookaround, ``\\A``, ``\\z``).

    Examples
    --------
    >>> from policy_themes.rules.matching import normalize_text
    >>> bool(compile_pattern("cooperat*").search(normalize_text("Bilateral cooperation")))
    True
    """
    from policy_themes.rules.patterns import (
        compile_rule_regex,
        phrase_keys,
        phrase_regex,
        phrase_variants,
    )

    if pattern.startswith("re:"):
        return compile_rule_regex(pattern[3:])
    variants = phrase_variants(pattern)
    if not variants:
        raise ValueError("empty pattern")
    for variant in variants:
        phrase_keys(variant)
    return phrase_regex(*variants)


@dataclass(frozen=True)
class Rule:
    """A labeling function: fires for ``theme`` when one of its patterns matches a sentence.

    Parameters
    ----------
    name : str
        Unique name of the rule within its taxonomy.
    theme : str
        Id of the theme the rule votes for.
    patterns : tuple of str
        Phrases or ``re:`` regexes; any match fires the rule.
    exclude : tuple of str, default=()
        Patterns whose matches cancel overlapping pattern matches.
    weight : float, default=1.0
        Strength of one match when themes are ranked.
    """

    name: str
    theme: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    weight: float = 1.0


@dataclass(frozen=True)
class Theme:
    """One theme of a taxonomy: id, human name, description and its rules."""

    id: str
    name: str
    description: str
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """A validated set of themes; ``none`` is always present and always last.

    Use :func:`load_taxonomy` to build one from a YAML file.
    """

    themes: tuple[Theme, ...]
    name: str = "taxonomy"
    source: str = field(default="", compare=False)

    @property
    def ids(self) -> list[str]:
        """Theme ids in taxonomy order, ``none`` last."""
        return [t.id for t in self.themes]

    @property
    def theme_ids(self) -> list[str]:
        """Theme ids without ``none``."""
        return [t.id for t in self.themes if t.id != NO_THEME]

    @property
    def rules(self) -> list[Rule]:
        """Every rule of every theme, in taxonomy order."""
        return [rule for theme in self.themes for rule in theme.rules]

    def theme(self, theme_id: str) -> Theme:
        """Return the theme with this id; raise ``ConfigError`` if there is none."""
        for theme in self.themes:
            if theme.id == theme_id:
                return theme
        raise ConfigError(f"{self.source or self.name}: no theme '{theme_id}'")

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the ids and rules: two taxonomies with the same fingerprint label alike."""
        payload = [
            [t.id, [[r.name, list(r.patterns), list(r.exclude), r.weight] for r in t.rules]]
            for t in self.themes
        ]
        return hashlib.sha256(json.dumps(payload).encode("utf-8")).hexdigest()


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML file.

    Parameters
    ----------
    path : str or Path, default=None
        The taxonomy file; None loads the default taxonomy shipped with the package.

    Returns
    -------
    Taxonomy
        The validated taxonomy, with ``none`` added last when the file does not define it.

    Raises
    ------
    ConfigError
        If the file is missing or malformed, or any theme or rule is invalid; the message names
        the file, the theme, the rule and the field of every problem found (the first 20).

    Examples
    --------
    >>> taxonomy = load_taxonomy()
    >>> "energy_diplomacy" in taxonomy.ids
    True
    """
    path = Path(path) if path is not None else default_taxonomy_path()
    raw = _read_yaml(path)
    return _parse_taxonomy(raw, str(path))


def taxonomy_to_dict(taxonomy: Taxonomy) -> dict:
    """A taxonomy as plain data (what a model stores): ``name``, ``source`` and ``themes``, each
    theme's rules naming their theme; :func:`taxonomy_from_dict` reads it back."""
    return {"name": taxonomy.name, "source": taxonomy.source,
            "themes": [{"id": t.id, "name": t.name, "description": t.description,
                        "rules": [{"name": r.name, "theme": r.theme, "patterns": list(r.patterns),
                                   "exclude": list(r.exclude), "weight": r.weight}
                                  for r in t.rules]}
                       for t in taxonomy.themes]}


def taxonomy_from_dict(raw: object, *, where: str) -> Taxonomy:
    """Check a taxonomy stored as plain data (:func:`taxonomy_to_dict`, inside a model) as
    strictly as :func:`load_taxonomy` checks a file, and build it.

    Parameters
    ----------
    raw : object
        The stored taxonomy.
    where : str
        Where it was read from, for messages (``models/v1/model.npz: taxonomy``).

    Returns
    -------
    Taxonomy
        With the ``source`` it records.

    Raises
    ------
    ConfigError
        If it is not a valid taxonomy: the message names ``where``, the theme, the rule and the
        field (a pattern RE2 cannot run, a value of the wrong type ...).
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with 'themes', got {type(raw).__name__}")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise ConfigError(f"{where}: field 'source' must be a string, got {source!r}")
    themes = raw.get("themes")
    if isinstance(themes, list):
        themes = [_without_rule_themes(theme, where) for theme in themes]
    body = {key: value for key, value in raw.items() if key != "source"}
    return replace(_parse_taxonomy({**body, "themes": themes}, where), source=source)


def _without_rule_themes(theme: object, where: str) -> object:
    """A stored theme with its rules' ``theme`` field, which must name the theme, taken out."""
    if not isinstance(theme, dict) or not isinstance(theme.get("rules"), list):
        return theme
    rules = []
    for rule in theme["rules"]:
        if isinstance(rule, dict) and "theme" in rule:
            if rule["theme"] != theme.get("id"):
                raise ConfigError(f"{where}: theme {theme.get('id')!r}, rule "
                                  f"{rule.get('name')!r}: field 'theme' names another theme, "
                                  f"{rule['theme']!r}")
            rule = {key: value for key, value in rule.items() if key != "theme"}
        rules.append(rule)
    return {**theme, "rules": rules}


def check_taxonomy(taxonomy: object, *, where: str) -> Taxonomy:
    """Check a :class:`Taxonomy` that did not come from :func:`load_taxonomy` (one inside a
    loaded pipeline) as strictly as a file, and return the checked copy.

    Raises
    ------
    ConfigError
        If it is not a Taxonomy, or not a valid one (see :func:`taxonomy_from_dict`).
    """
    if not isinstance(taxonomy, Taxonomy):
        raise ConfigError(f"{where}: expected a taxonomy, got {type(taxonomy).__name__}")
    try:
        raw = taxonomy_to_dict(taxonomy)
    except (AttributeError, TypeError) as exc:
        raise ConfigError(f"{where}: the taxonomy is damaged ({exc})") from None
    return taxonomy_from_dict(raw, where=where)


def _read_yaml(path: Path) -> object:
    """Read a YAML file (no aliases, bounded nesting: :func:`~policy_themes.limits.load_yaml`),
    turning every failure into a ConfigError naming the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: taxonomy file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read taxonomy file ({exc})") from None
    return load_yaml(text, str(path))


class _Problems:
    """Every problem of a taxonomy file, raised together as one ConfigError at the end."""

    def __init__(self, src: str):
        self.src = src
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def __len__(self) -> int:
        return len(self.messages)

    def raise_any(self) -> None:
        """Raise one ConfigError naming every problem (the first 20), if there are any."""
        if len(self.messages) == 1:
            raise ConfigError(self.messages[0])
        if self.messages:
            prefix = f"{self.src}: "
            parts = [m[len(prefix):] if m.startswith(prefix) else m for m in self.messages]
            more = f"; and {len(parts) - _MAX_SHOWN} more" if len(parts) > _MAX_SHOWN else ""
            raise ConfigError(f"{self.src}: {len(parts)} problems: "
                              + "; ".join(parts[:_MAX_SHOWN]) + more)


_MAX_SHOWN = 20  # problems named in the error; the rest are counted


def _parse_taxonomy(raw: object, src: str) -> Taxonomy:
    """Validate the parsed YAML structure and build the Taxonomy, or raise one ConfigError
    naming every problem of the file."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: expected a mapping with a 'themes' list at the top level")
    problems = _Problems(src)
    _check_keys(raw, _TOP_KEYS, src, problems)
    themes_raw = raw.get("themes")
    if not isinstance(themes_raw, list) or not themes_raw:
        problems.add(f"{src}: 'themes' must be a non-empty list")
        problems.raise_any()
    if len(themes_raw) > MAX_THEMES:
        raise ConfigError(f"{src}: {len(themes_raw):,} themes, more than a taxonomy may hold "
                          f"({MAX_THEMES:,})")
    themes: list[Theme] = []
    seen_rules: set[str] = set()
    seen_ids: set[str] = set()
    for index, theme_raw in enumerate(themes_raw):
        theme = _parse_theme(theme_raw, index, src, seen_rules, problems)
        if theme is not None and theme.id in seen_ids:
            problems.add(f"{src}: theme '{theme.id}': duplicate theme id")
        elif theme is not None:
            themes.append(theme)
            seen_ids.add(theme.id)
    none = [t for t in themes if t.id == NO_THEME]
    others = [t for t in themes if t.id != NO_THEME]
    if not others and not problems:
        problems.add(f"{src}: the taxonomy needs at least one theme besides '{NO_THEME}'")
    if none and none[0].rules:
        problems.add(f"{src}: theme '{NO_THEME}': field 'rules' must be empty (it means no theme)")
    regexes = sum(p.startswith("re:") for t in themes for r in t.rules
                  for p in (*r.patterns, *r.exclude))
    if regexes > MAX_REGEX_PATTERNS:
        problems.add(f"{src}: {regexes} re: patterns, more than a taxonomy may hold "
                     f"({MAX_REGEX_PATTERNS}: each may take half a megabyte); use phrases")
    problems.raise_any()
    none_theme = none[0] if none else Theme(NO_THEME, "No theme", "no theme applies")
    name = str(raw.get("name", Path(src).stem))
    return Taxonomy(themes=tuple(others) + (none_theme,), name=name, source=src)


def _parse_theme(raw: object, index: int, src: str, seen_rules: set[str],
                 problems: _Problems) -> Theme | None:
    """Validate one theme entry; None (its problems added) when it is invalid."""
    where = f"{src}: theme #{index + 1}"
    if not isinstance(raw, dict):
        problems.add(f"{where}: expected a mapping with id, name, description, rules")
        return None
    before = len(problems)
    theme_id = raw.get("id")
    if isinstance(theme_id, str):
        where = f"{src}: theme '{theme_id}'"
    _check_keys(raw, _THEME_KEYS, where, problems)
    for key in _THEME_REQUIRED:
        if key not in raw:
            problems.add(f"{where}: missing field '{key}'")
        elif not isinstance(raw[key], str) or not raw[key].strip():
            problems.add(f"{where}: field '{key}' must be a non-empty string")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        problems.add(f"{where}: field 'description' must be text, got {description!r}")
    if isinstance(theme_id, str) and theme_id.strip() and not _ID_RE.match(theme_id):
        problems.add(f"{where}: field 'id' must be lower-case letters, digits and underscores, "
                     f"got {theme_id!r}")
    rules_raw = raw.get("rules") or []
    if not isinstance(rules_raw, list):
        problems.add(f"{where}: field 'rules' must be a list")
        rules_raw = []
    rules = [_parse_rule(r, i, str(theme_id), where, seen_rules, problems)
             for i, r in enumerate(rules_raw)]
    if len(problems) > before:
        return None
    return Theme(theme_id, raw["name"].strip(), " ".join((description or "").split()),
                 tuple(rules))


def _parse_rule(raw: object, index: int, theme_id: str, where: str, seen: set[str],
                problems: _Problems) -> Rule | None:
    """Validate one rule entry and check that its patterns compile; None when invalid."""
    if not isinstance(raw, dict):
        problems.add(f"{where}, rule #{index + 1}: expected a mapping with name and patterns")
        return None
    before = len(problems)
    name = raw.get("name")
    rwhere = f"{where}, rule '{name}'" if isinstance(name, str) else f"{where}, rule #{index + 1}"
    _check_keys(raw, _RULE_KEYS, rwhere, problems)
    if not isinstance(name, str) or not name.strip():
        problems.add(f"{rwhere}: missing field 'name'")
    elif name in seen:
        problems.add(f"{rwhere}: duplicate rule name")
    else:
        seen.add(name)
    patterns = _pattern_list(raw, "patterns", rwhere, problems, required=True)
    exclude = _pattern_list(raw, "exclude", rwhere, problems, required=False)
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
            or not 0 < weight < float("inf"):
        problems.add(f"{rwhere}: field 'weight' must be a number > 0, got {weight!r}")
    if len(problems) > before:
        return None
    return Rule(name, theme_id, patterns, exclude, float(weight))


def _pattern_list(raw: dict, key: str, where: str, problems: _Problems, *,
                  required: bool) -> tuple[str, ...]:
    """Validate a list of patterns, compiling each to catch invalid regexes early."""
    value = raw.get(key)
    if value is None:
        if required:
            problems.add(f"{where}: missing field '{key}'")
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or (required and not value):
        problems.add(f"{where}: field '{key}' must be a non-empty list of strings")
        return ()
    for pattern in value:
        if not isinstance(pattern, str) or not pattern.strip():
            problems.add(f"{where}: field '{key}' has an empty or non-string pattern")
            continue
        try:
            compile_pattern(pattern)
        except (re.error, ValueError) as exc:
            problems.add(f"{where}: field '{key}': invalid pattern {pattern!r} ({exc})")
    return tuple(value)


def _check_keys(raw: dict, allowed: set[str], where: str, problems: _Problems) -> None:
    """Refuse unknown keys, which are usually typos."""
    problem = unknown_keys(raw, allowed, where)
    if problem:
        problems.add(problem)
