"""Load and validate the training config (``configs/train.yaml``).

The config is strict: unknown keys and wrong types are errors that name the file and the key.
Estimator settings live in a flat ``params`` mapping of scikit-learn ``step__param`` names, which
the pipeline applies with ``set_params`` and scikit-learn validates at ``fit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from policy_themes.errors import ConfigError
from policy_themes.limits import MAX_CONTEXT_WINDOW, load_yaml
from policy_themes.resources import resource_path

__all__ = ["TrainConfig", "CVConfig", "ThresholdConfig", "ContextConfig", "load_train_config",
           "default_train_config_path", "parse_override", "train_config_from_mapping",
           "unknown_keys"]

_FEATURES = ("word", "char", "rules", "context_words", "context_rules", "embeddings",
             "context_embeddings")
_DEFAULT_FEATURES = {"word": True, "char": True, "rules": True, "context_words": False,
                     "context_rules": False, "embeddings": False, "context_embeddings": False}
#: The feature blocks that read a sentence's context.
CONTEXT_FEATURES = ("context_words", "context_rules", "context_embeddings")
#: The feature blocks that need the ``embeddings`` extra.
EMBEDDING_FEATURES = ("embeddings", "context_embeddings")
DOCUMENT_COLUMNS = ("doc_id", "document_id", "document", "source", "url")
_TUPLE_PARAMS = ("ngram_range",)


def default_train_config_path() -> Path:
    """Return the path of the training config shipped with the package."""
    return resource_path("configs/train.yaml")


@dataclass(frozen=True)
class CVConfig:
    """Cross-validation: number of folds (0 = none) and the column that groups sentences
    (None: their documents, found as the context finds them)."""

    folds: int = 5
    group_column: str | None = None


@dataclass(frozen=True)
class DataConfig:
    """How the rows of each training file count, the file named by its name without extensions
    (``ungdc`` for ``data/labeled/ungdc.csv``).

    Attributes
    ----------
    weights : dict of str to float
        Sample weight of each named file's rows; the rows of other files weigh 1.
    cross_validate : tuple of str
        The files whose rows cross-validation holds out and measures (grouped by document);
        the rows of the other files are always trained on. Empty, or naming none of the files
        trained on: every row is cross-validated.
    """

    weights: dict[str, float] = field(default_factory=dict)
    cross_validate: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContextConfig:
    """Where a sentence's context comes from, for the ``context_*`` feature blocks.

    Attributes
    ----------
    window : int
        Neighbouring sentences taken on each side, within the same document.
    columns : tuple of str
        Table columns that hold the context itself (e.g. ``text_preceding``); when a table has
        them they are used instead of the neighbours.
    document_columns : tuple of str
        Columns that identify a sentence's document, the first one present is used.
    dropout : float
        Share of the training sentences (a seeded random choice) whose context is left out in
        fitting, so that the model also learns to read sentences that come without one.
    """

    window: int = 1
    columns: tuple[str, ...] = ()
    document_columns: tuple[str, ...] = DOCUMENT_COLUMNS
    dropout: float = 0.0


@dataclass(frozen=True)
class ThresholdConfig:
    """Per-theme thresholds on theme probabilities: the fallback value and the search range."""

    default: float = 0.5
    minimum: float = 0.1
    maximum: float = 0.9


@dataclass(frozen=True)
class TrainConfig:
    """A validated training config.

    Attributes
    ----------
    seed : int
        Random seed for cross-validation splits and estimators.
    features : dict of str to bool
        Which feature blocks the pipeline uses: ``word``, ``char``, ``rules``,
        ``context_words`` and ``context_rules``.
    params : dict
        scikit-learn parameters by ``step__param`` name.
    cv : CVConfig
        Cross-validation settings.
    thresholds : ThresholdConfig
        Threshold settings.
    context : ContextConfig
        Where the context of the ``context_*`` blocks comes from.
    data : DataConfig
        Weights of the training files, and which of them cross-validation measures.
    source : str
        Where the config came from (for messages).
    overridden : tuple of str
        The ``params`` keys set on the command line (``--set``), for messages.
    """

    seed: int = 0
    features: dict[str, bool] = field(default_factory=lambda: dict(_DEFAULT_FEATURES))
    params: dict[str, Any] = field(default_factory=dict)
    cv: CVConfig = CVConfig()
    thresholds: ThresholdConfig = ThresholdConfig()
    context: ContextConfig = ContextConfig()
    data: DataConfig = DataConfig()
    source: str = "config"
    overridden: tuple[str, ...] = ()

    def where(self, key: str) -> str:
        """Where the setting ``key`` of ``params`` came from, for messages: ``--set clf__C``
        or ``train.yaml: 'clf__C'``."""
        return f"--set {key}" if key in self.overridden else f"{self.source}: '{key}'"

    @property
    def uses_context(self) -> bool:
        """Whether a context feature block is on."""
        return any(self.features.get(name) for name in CONTEXT_FEATURES)

    @property
    def uses_embeddings(self) -> bool:
        """Whether a sentence-embedding block is on (the ``embeddings`` extra)."""
        return any(self.features.get(name) for name in EMBEDDING_FEATURES)

    def without_context(self) -> TrainConfig:
        """A copy with the context blocks switched off."""
        return replace(self, features={**self.features,
                                       **{name: False for name in CONTEXT_FEATURES}})

    def with_embeddings(self) -> TrainConfig:
        """A copy with the sentence-embedding blocks switched on (the context's too, when the
        config reads context): ``train --accurate``."""
        switched = {"embeddings": True, "context_embeddings": self.uses_context}
        return replace(self, features={**self.features, **switched})

    def to_dict(self) -> dict:
        """The config as plain data (what ``model.json`` records)."""
        return {
            "seed": self.seed,
            "features": dict(self.features),
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
            "cv": {"folds": self.cv.folds, "group_column": self.cv.group_column},
            "thresholds": {"default": self.thresholds.default,
                           "minimum": self.thresholds.minimum,
                           "maximum": self.thresholds.maximum},
            "context": {"window": self.context.window, "columns": list(self.context.columns),
                        "document_columns": list(self.context.document_columns),
                        "dropout": self.context.dropout},
            "data": {"weights": dict(self.data.weights),
                     "cross_validate": list(self.data.cross_validate)},
        }

    def with_overrides(self, *, seed: int | None = None, folds: int | None = None,
                       params: dict[str, Any] | None = None) -> TrainConfig:
        """Return a copy with command-line overrides applied."""
        new = self
        if seed is not None:
            new = replace(new, seed=_seed(seed, "--seed"))
        if folds is not None:
            new = replace(new, cv=replace(new.cv, folds=_check_folds(folds, new.source)))
        if params:
            merged = {**new.params,
                      **{k: _normalise_param(k, v, f"--set {k}") for k, v in params.items()}}
            new = replace(new, params=merged,
                          overridden=tuple(dict.fromkeys((*new.overridden, *params))))
        return new


def load_train_config(path: str | Path | None = None) -> TrainConfig:
    """Load and validate a training config YAML file.

    Parameters
    ----------
    path : str or Path, default=None
        The config; None loads the shipped ``configs/train.yaml``.

    Returns
    -------
    TrainConfig

    Raises
    ------
    ConfigError
        If the file is missing, malformed, has unknown keys or values of the wrong type.
    """
    path = Path(path) if path is not None else default_train_config_path()
    src = str(path)
    if not path.is_file():
        raise ConfigError(f"{src}: training config not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{src}: cannot read ({exc})") from None
    raw = load_yaml(text, src)
    return train_config_from_mapping(raw, src)


def train_config_from_mapping(raw: object, source: str = "config") -> TrainConfig:
    """Validate a training config given as a mapping: what a config file holds, or the
    ``config`` that ``model.json`` records (:meth:`TrainConfig.to_dict`).

    Raises
    ------
    ConfigError
        If it has unknown keys or values of the wrong type; messages name ``source``.
    """
    src = source
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: expected a mapping at the top level")
    _check_keys(raw, {"seed", "features", "params", "cv", "thresholds", "context", "data"}, src)
    return TrainConfig(
        seed=_seed(raw.get("seed", 0), f"{src}: 'seed'"),
        features=_features(raw.get("features", {}), src),
        params=_params(raw.get("params", {}), src),
        cv=_cv(raw.get("cv", {}), src),
        thresholds=_thresholds(raw.get("thresholds", {}), src),
        context=context_config(raw.get("context", {}), src),
        data=_data(raw.get("data", {}), src),
        source=src,
    )


def _data(raw: object, src: str) -> DataConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: 'data' must be a mapping with weights and cross_validate")
    _check_keys(raw, {"weights", "cross_validate"}, f"{src}: 'data'")
    weights = raw.get("weights") or {}
    if not isinstance(weights, dict):
        raise ConfigError(f"{src}: 'data.weights' must map file names to numbers, e.g. "
                          "{ungdc: 3}")
    checked = {}
    for name, value in weights.items():
        if not isinstance(name, str) or isinstance(value, bool) \
                or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
            raise ConfigError(f"{src}: 'data.weights.{name}' must be a number > 0, got {value!r}")
        checked[name] = float(value)
    measured = raw.get("cross_validate") or []
    if not isinstance(measured, list) or not all(isinstance(v, str) for v in measured):
        raise ConfigError(f"{src}: 'data.cross_validate' must be a list of file names")
    return DataConfig(weights=checked, cross_validate=tuple(measured))


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a ``step__param=value`` override; the value is read as YAML (``0.5``, ``[1, 2]``).

    Raises
    ------
    ConfigError
        If the text has no ``=`` or an empty name, or the value is YAML with an alias or
        nested too deeply (:func:`~policy_themes.limits.load_yaml`).
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"--set {text!r}: expected step__param=value, e.g. clf__C=0.5")
    try:
        parsed = load_yaml(value, f"--set {name}")
    except ConfigError as exc:
        if "malformed YAML" not in str(exc):
            raise
        parsed = value  # not YAML: the text as it is
    return name, parsed


def _features(raw: object, src: str) -> dict[str, bool]:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{src}: 'features' must be a mapping of {', '.join(_FEATURES)} to true/false"
        )
    _check_keys(raw, set(_FEATURES), f"{src}: 'features'")
    features = dict(_DEFAULT_FEATURES)
    for key, value in raw.items():
        if not isinstance(value, bool):
            raise ConfigError(f"{src}: 'features.{key}' must be true or false, got {value!r}")
        features[key] = value
    if not any(features.values()):
        raise ConfigError(f"{src}: 'features' switches every feature block off")
    return features


def _params(raw: object, src: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: 'params' must be a mapping of step__param names to values")
    params = {}
    for key, value in raw.items():
        if not isinstance(key, str) or "__" not in key:
            raise ConfigError(
                f"{src}: 'params' key {key!r} must be a step__param name, e.g. clf__C"
            )
        params[key] = _normalise_param(key, value, f"{src}: '{key}'")
    return params


def _normalise_param(key: str, value: Any, where: str) -> Any:
    """YAML gives lists where scikit-learn wants tuples (``ngram_range``); class weights must
    be numbers (scikit-learn checks only that they come as a mapping)."""
    name = key.rsplit("__", 1)[-1]
    if name in _TUPLE_PARAMS and isinstance(value, list):
        return tuple(value)
    if name == "class_weight" and isinstance(value, dict):
        for theme, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                    or not 0 < weight < float("inf"):
                raise ConfigError(f"{where}: the weight of {theme!r} must be a number > 0, got "
                                  f"{weight!r}")
    return value


def context_config(raw: object, src: str = "config") -> ContextConfig:
    """Validate a ``context`` mapping (also used to read it back from ``model.json``)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: 'context' must be a mapping with window, columns, "
                          "document_columns")
    _check_keys(raw, {"window", "columns", "document_columns", "dropout"}, f"{src}: 'context'")
    window = _int(raw.get("window", 1), f"{src}: 'context.window'")
    if window < 1:
        raise ConfigError(f"{src}: 'context.window' must be >= 1, got {window}")
    if window > MAX_CONTEXT_WINDOW:
        raise ConfigError(f"{src}: 'context.window' must be at most {MAX_CONTEXT_WINDOW} "
                          f"sentences on each side, got {window}")
    dropout = raw.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"{src}: 'context.dropout' must be a number from 0 to below 1, "
                          f"got {dropout!r}")
    lists = {}
    for key, default in (("columns", ()), ("document_columns", DOCUMENT_COLUMNS)):
        value = raw.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{src}: 'context.{key}' must be a list of column names")
        lists[key] = tuple(value)
    return ContextConfig(window=window, dropout=float(dropout), **lists)


def _cv(raw: object, src: str) -> CVConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: 'cv' must be a mapping with folds and group_column")
    _check_keys(raw, {"folds", "group_column"}, f"{src}: 'cv'")
    folds = _check_folds(raw.get("folds", 5), src)
    group = raw.get("group_column")
    if group is not None and not isinstance(group, str):
        raise ConfigError(f"{src}: 'cv.group_column' must be a column name or null, got {group!r}")
    return CVConfig(folds=folds, group_column=group)


def _check_folds(value: object, src: str) -> int:
    folds = _int(value, f"{src}: 'cv.folds'")
    if folds == 1 or folds < 0:
        raise ConfigError(f"{src}: 'cv.folds' must be 0 (no cross-validation) or >= 2, got {folds}")
    return folds


def _thresholds(raw: object, src: str) -> ThresholdConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: 'thresholds' must be a mapping with default, minimum, maximum")
    _check_keys(raw, {"default", "minimum", "maximum"}, f"{src}: 'thresholds'")
    values = {}
    for key in ("default", "minimum", "maximum"):
        value = raw.get(key, getattr(ThresholdConfig, key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ConfigError(f"{src}: 'thresholds.{key}' must be a number between 0 and 1, "
                              f"got {value!r}")
        values[key] = float(value)
    if values["minimum"] > values["maximum"]:
        raise ConfigError(f"{src}: 'thresholds.minimum' is above 'thresholds.maximum'")
    return ThresholdConfig(**values)


def _seed(value: object, where: str) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1 (what NumPy's generators take)."""
    seed = _int(value, where)
    if not 0 <= seed < 2**32:
        raise ConfigError(f"{where} must be a whole number from 0 to {2**32 - 1}, got {seed}")
    return seed


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    return value


def _check_keys(raw: dict, allowed: set[str], where: str) -> None:
    problem = unknown_keys(raw, allowed, where)
    if problem:
        raise ConfigError(problem)


def unknown_keys(raw: dict, allowed: set[str], where: str) -> str | None:
    """What is wrong with a mapping's keys that are not ``allowed`` (usually typos), or None.

    Examples
    --------
    >>> unknown_keys({"seed": 1, "fold": 5}, {"seed", "folds"}, "train.yaml")
    "train.yaml: unknown key 'fold' (allowed: folds, seed)"
    """
    unknown = sorted(set(map(str, raw)) - allowed)
    if not unknown:
        return None
    keys = ", ".join(f"'{k}'" for k in unknown)
    return (f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {keys} "
            f"(allowed: {', '.join(sorted(allowed))})")
