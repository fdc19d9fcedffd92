"""policy-themes: label foreign-policy sentences with policy themes.

The public API is imported lazily, so ``import policy_themes`` (and the CLI's ``--help``) stays
fast; each name loads its module on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "PolicyThemesError": "errors",
    "ConfigError": "errors",
    "DataError": "errors",
    "RuleError": "errors",
    "ModelError": "errors",
    "NO_THEME": "taxonomy",
    "Rule": "taxonomy",
    "Theme": "taxonomy",
    "Taxonomy": "taxonomy",
    "load_taxonomy": "taxonomy",
    "Sentence": "sentences",
    "split_sentences": "sentences",
    "RuleMatcher": "labeling",
    "LabelResult": "labeling",
    "label_sentences": "labeling",
    "RuleAnalysis": "analysis",
    "analyze_rules": "analysis",
    "LabelRun": "batch",
    "label_files": "batch",
    "map_chunks": "parallel",
    "TrainConfig": "config",
    "load_train_config": "config",
    "TrainResult": "training",
    "train": "training",
    "train_model": "training",
    "ThemeModel": "prediction",
    "load_model": "prediction",
    "predict_files": "prediction",
    "PredictRun": "prediction",
    "EvalReport": "evaluation",
    "compute_metrics": "evaluation",
    "evaluate": "evaluation",
    "export_model": "sharing",
    "train_streaming": "streaming",
    "read_table": "data",
    "read_labeled": "data",
    "parse_themes": "data",
    "AuditResult": "audit",
    "audit_labels": "audit",
    "rank_label_issues": "audit",
    "Suggestions": "suggest",
    "suggest": "suggest",
    "rank_pool": "suggest",
    "out_of_fold_proba": "training",
    "read_label_studio": "labelstudio",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'policy_themes' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
