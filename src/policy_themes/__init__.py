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
    "NO_THEME": "rules.taxonomy",
    "Rule": "rules.taxonomy",
    "Theme": "rules.taxonomy",
    "Taxonomy": "rules.taxonomy",
    "load_taxonomy": "rules.taxonomy",
    "Sentence": "text.sentences",
    "split_sentences": "text.sentences",
    "RuleMatcher": "rules.labeling",
    "LabelResult": "rules.labeling",
    "label_sentences": "rules.labeling",
    "RuleAnalysis": "rules.analysis",
    "analyze_rules": "rules.analysis",
    "LabelRun": "workflows.batch_labeling",
    "label_files": "workflows.batch_labeling",
    "map_chunks": "parallel.pool",
    "TrainConfig": "config",
    "load_train_config": "config",
    "TrainResult": "workflows.training",
    "train": "workflows.training",
    "train_model": "workflows.training",
    "ThemeModel": "model.theme_model",
    "load_model": "model.theme_model",
    "find_model": "model.locating",
    "record_trained_model": "model.locating",
    "last_trained_model": "model.locating",
    "predict_files": "workflows.prediction",
    "PredictRun": "workflows.prediction",
    "EvalReport": "evaluation.report",
    "compute_metrics": "evaluation.metrics",
    "evaluate": "workflows.evaluate",
    "export_model": "model.sharing",
    "train_streaming": "workflows.streaming_training",
    "read_table": "io.tables",
    "read_labeled": "io.labels",
    "parse_themes": "io.labels",
    "Profile": "workflows.profiles",
    "profile": "workflows.profiles",
    "ThemesOverview": "workflows.codebook",
    "describe_themes": "workflows.codebook",
    "ThemeDraft": "workflows.codebook",
    "draft_themes": "workflows.codebook",
    "draft_themes_from_labels": "workflows.codebook",
    "InitResult": "workflows.codebook",
    "init_taxonomy": "workflows.codebook",
    "taxonomy_yaml": "workflows.codebook",
    "RuleSuggestions": "workflows.rule_suggestions",
    "suggest_rules": "workflows.rule_suggestions",
    "suggest_rules_from_table": "workflows.rule_suggestions",
    "AuditResult": "workflows.audit",
    "audit_labels": "workflows.audit",
    "rank_label_issues": "workflows.audit",
    "audit_out_of_fold": "workflows.audit_folds",
    "Suggestions": "workflows.suggest",
    "suggest": "workflows.suggest",
    "rank_pool": "workflows.pool_ranking",
    "out_of_fold_proba": "workflows.training",
    "read_label_studio": "io.labelstudio",
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
