"""Bounds on every size a file or a flag can set, so that a small input cannot cost a lot.

A taxonomy, a training config or a table is usually small, but nothing stops one from being built
to make the package exhaust memory or processes: a YAML alias bomb (nine levels of nine aliases
expand to a billion items), a ``.gz`` file of 1 MB that decompresses to 1 GB, a table cell of a
gigabyte, ``context.window: 1000000000``, a hash size of ``2**30`` buckets. Each is refused here
with one line that says what the limit is and, where a genuine input may pass it, how to raise it:

- YAML (taxonomies, training configs, ``--set`` values): no anchors or aliases (``&name`` /
  ``*name``), and at most :data:`MAX_YAML_DEPTH` levels of nesting (:func:`load_yaml`).
- A ``.gz`` input decompresses to at most 256 MB, or to 50 times its own size when that is more
  (the UN General Debate corpus, 65 MB compressed, may reach 3.3 GB; it is 199 MB); the
  environment variable ``POLICY_THEMES_MAX_DECOMPRESSED`` (e.g. ``8G``) sets the limit instead
  (:func:`max_decompressed_bytes`).
- A table cell holds at most 64 MB of text (the longest UN speech holds 127 kB);
  ``POLICY_THEMES_MAX_CELL`` (e.g. ``256M``) sets another limit (:func:`max_cell_bytes`).
- A ``.skops`` model (a zip archive) expands to at most 64 MB plus 100 times its size (the
  models ``export`` writes expand 1 to 25 times; a compression bomb a thousand times);
  ``POLICY_THEMES_MAX_UNZIPPED`` (e.g. ``4G``) sets the limit instead
  (:func:`max_unzipped_bytes`).
- ``context.window`` is at most :data:`MAX_CONTEXT_WINDOW`; a hashed n-gram block has at most
  ``2**``:data:`MAX_HASH_BITS` buckets.
- A taxonomy holds at most :data:`MAX_THEMES` themes (a model has a column of weights per
  theme), and at most :data:`MAX_REGEX_PATTERNS` ``re:`` patterns, and RE2 gives each
  regular expression at most :data:`MAX_REGEX_MEMORY` bytes (one that needs more is refused
  when the taxonomy is loaded).

Sizes in the environment variables are bytes, with an optional ``k``, ``M``, ``G`` or ``T``
(powers of 1000).
"""

from __future__ import annotations

import os

from policy_themes.errors import ConfigError, DataError

__all__ = ["MAX_YAML_DEPTH", "MAX_CONTEXT_WINDOW", "MAX_HASH_BITS", "MAX_REGEX_MEMORY",
           "MAX_REGEX_PATTERNS", "MAX_THEMES", "MAX_DECOMPRESSED_ENV",
           "MAX_CELL_ENV", "MAX_UNZIPPED_ENV", "UNZIPPED_RATIO", "UNZIPPED_ALLOWANCE",
           "load_yaml", "max_decompressed_bytes", "max_cell_bytes", "max_unzipped_bytes",
           "parse_size", "format_size", "decompressed_too_big", "cell_too_big"]

#: Levels of nesting a YAML file may have (a taxonomy needs 7).
MAX_YAML_DEPTH = 20
#: Neighbouring sentences on each side a context may take.
MAX_CONTEXT_WINDOW = 20
#: A hashed n-gram block has at most ``2**MAX_HASH_BITS`` buckets (16.8 million).
MAX_HASH_BITS = 24
#: Memory RE2 may give one of a taxonomy's regular expressions (its program and its cache).
MAX_REGEX_MEMORY = 1 << 20
#: ``re:`` patterns one taxonomy may hold (each may take up to half a megabyte).
MAX_REGEX_PATTERNS = 1000
#: Themes one taxonomy may hold (the Comparative Agendas Project's codebook has about 220
#: subtopics; a model's classifier has a column of weights per theme).
MAX_THEMES = 1000
MAX_DECOMPRESSED_ENV = "POLICY_THEMES_MAX_DECOMPRESSED"
MAX_CELL_ENV = "POLICY_THEMES_MAX_CELL"
MAX_UNZIPPED_ENV = "POLICY_THEMES_MAX_UNZIPPED"
#: A ``.skops`` archive may expand to this many times its size, plus
#: :data:`UNZIPPED_ALLOWANCE` bytes, unless ``POLICY_THEMES_MAX_UNZIPPED`` says otherwise.
UNZIPPED_RATIO = 100
UNZIPPED_ALLOWANCE = 64 << 20
_DECOMPRESSED_FLOOR = 256 * 10**6
_DECOMPRESSED_RATIO = 50
_DEFAULT_MAX_CELL = 64 * 10**6
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def load_yaml(text: str, source: str) -> object:
    """Parse YAML as ``yaml.safe_load`` does, refusing aliases and deep nesting.

    Parameters
    ----------
    text : str
        The YAML document.
    source : str
        What it is, for messages (a file name, ``--set clf__C=...``).

    Returns
    -------
    object
        The parsed value (None for an empty document).

    Raises
    ------
    ConfigError
        If the YAML is malformed, holds an alias (``*name``) or is nested more than
        :data:`MAX_YAML_DEPTH` levels deep; the message names ``source`` and the line.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}: malformed YAML{where}: {problem}") from None
    except ValueError as exc:  # a value YAML reads but Python refuses (an int of 5,000 digits)
        raise ConfigError(f"{source}: malformed YAML: {exc}") from None
    except RecursionError:  # the pure-Python parser, where libyaml is missing
        raise ConfigError(f"{source}: YAML nested more than {MAX_YAML_DEPTH} levels deep") \
            from None
    finally:
        loader.dispose()


def _check_nodes(root, source: str) -> None:
    """Refuse a node met twice (an alias: libyaml's composer gives an alias the node of its
    anchor) and nesting deeper than :data:`MAX_YAML_DEPTH`, walking the node graph without
    recursion."""
    import yaml

    seen: set[int] = set()
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in seen:
            raise ConfigError(f"{source}: YAML aliases (*name) are not allowed (one refers to "
                              f"line {line}); write the value out")
        seen.add(id(node))
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(f"{source}: YAML nested more than {MAX_YAML_DEPTH} levels deep "
                              f"(line {line})")
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend((child, depth + 1) for pair in node.value for child in pair)


def parse_size(text: str, name: str) -> int:
    """A size such as ``512M`` or ``2G`` (powers of 1000) or ``1000000`` in bytes.

    Raises
    ------
    ConfigError
        If ``text`` is not a size; the message names ``name``.
    """
    cleaned = text.strip().lower().removesuffix("b")
    number, unit = cleaned.rstrip("kmgt"), cleaned[len(cleaned.rstrip("kmgt")):]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or not 0 < value < float("inf"):
        raise ConfigError(f"{name}={text!r}: expected a size in bytes, e.g. 512M or 2G")
    return int(value * _UNITS[unit])


def format_size(size: int) -> str:
    """``size`` bytes for a message: ``256 MB``, ``1.5 GB``, ``800 bytes``."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


def _size_setting(name: str) -> int | None:
    """The size the environment variable ``name`` sets (see :func:`parse_size`), or None when
    it is unset or empty."""
    setting = os.environ.get(name)
    return parse_size(setting, name) if setting else None


def max_decompressed_bytes(compressed_size: int) -> int:
    """How many bytes a ``.gz`` input of ``compressed_size`` bytes may decompress to:
    ``POLICY_THEMES_MAX_DECOMPRESSED`` when set, else 256 MB or 50 times its size, whichever
    is more.

    Raises
    ------
    ConfigError
        If the environment variable is not a size.
    """
    setting = _size_setting(MAX_DECOMPRESSED_ENV)
    return setting if setting is not None else \
        max(_DECOMPRESSED_FLOOR, _DECOMPRESSED_RATIO * compressed_size)


def max_cell_bytes() -> int:
    """The most bytes of text one table cell may hold: ``POLICY_THEMES_MAX_CELL`` when set,
    else 64 MB.

    Raises
    ------
    ConfigError
        If the environment variable is not a size.
    """
    setting = _size_setting(MAX_CELL_ENV)
    return setting if setting is not None else _DEFAULT_MAX_CELL


def max_unzipped_bytes(archive_size: int) -> int:
    """How many bytes a ``.skops`` archive of ``archive_size`` bytes may expand to:
    ``POLICY_THEMES_MAX_UNZIPPED`` when set, else 64 MB plus 100 times its size.

    Raises
    ------
    ConfigError
        If the environment variable is not a size.
    """
    setting = _size_setting(MAX_UNZIPPED_ENV)
    return setting if setting is not None else UNZIPPED_ALLOWANCE + UNZIPPED_RATIO * archive_size


def decompressed_too_big(path: object, limit: int, size: int | None = None) -> DataError:
    """The error for a ``.gz`` input that decompresses to more than ``limit`` bytes (``size``,
    when its trailer says how many)."""
    how = (f"{MAX_DECOMPRESSED_ENV} is {os.environ[MAX_DECOMPRESSED_ENV]}"
           if os.environ.get(MAX_DECOMPRESSED_ENV) else
           "a .gz input may decompress to 256 MB, or to 50 times its size")
    amount = f"to {format_size(size)} (its gzip trailer says), more than" if size is not None \
        else "to more than"
    return DataError(f"{path}: decompresses {amount} {format_size(limit)} ({how}); if the "
                     f"file is genuine, raise the limit, e.g. {MAX_DECOMPRESSED_ENV}=8G")


def cell_too_big(path: object, row: int, column: object | None,
                 size: int | None = None) -> DataError:
    """The error for a table cell of more than :func:`max_cell_bytes` (``column`` None: a cell
    of the row, found while it is read; ``size``: its bytes, when known)."""
    held = f"{format_size(size)} of text, more" if size is not None else "more text"
    cell = "a cell" if column is None else f"column '{column}'"
    return DataError(f"{path}: row {row}, {cell} holds {held} than one cell may hold "
                     f"({format_size(max_cell_bytes())}); if the table is genuine, raise the "
                     f"limit, e.g. {MAX_CELL_ENV}=256M")
