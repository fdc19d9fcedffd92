"""A fitted pipeline as the arrays of ``model.npz``: :func:`pipeline_arrays`."""

from __future__ import annotations

import json

import numpy as np

from policy_themes.model.arrays import FORMAT
from policy_themes.model.decisions import (
    stack_heads,
)
from policy_themes.rules.taxonomy import (
    taxonomy_to_dict,
)

__all__ = ["pipeline_arrays"]


def pipeline_arrays(pipeline) -> dict[str, np.ndarray] | None:
    """The arrays of ``model.npz`` for a fitted pipeline of the package's shape, or None.

    Compiles ``input`` → ``features`` (a ColumnTransformer of :class:`HashedTfidf`,
    :class:`HashedNgrams` and :class:`RuleVotes` blocks) → ``clf`` (a :class:`ThemeClassifier`
    of logistic regressions, or a :class:`StreamingThemeClassifier`, trained now or by an earlier
    build with ``log_loss`` SGD heads);
    anything else (for instance the ``TfidfVectorizer`` features of models trained by earlier
    builds) returns None.
    """
    from sklearn.compose import ColumnTransformer

    from policy_themes.model.classifier import InputFrame

    steps = getattr(pipeline, "named_steps", {})
    features, clf = steps.get("features"), steps.get("clf")
    if (list(steps) != ["input", "features", "clf"] or not isinstance(steps["input"], InputFrame)
            or not isinstance(features, ColumnTransformer)):
        return None
    features_arrays = _features_arrays(features)
    heads = _compile_heads(clf)
    if features_arrays is None or heads is None:
        return None
    (blocks, taxonomy, arrays), (head_spec, head_arrays) = features_arrays, heads
    spec = {"format": FORMAT, "blocks": blocks, **head_spec,
            "taxonomy": taxonomy_to_dict(taxonomy) if taxonomy is not None else None}
    return {**arrays, **head_arrays, "spec": np.array(json.dumps(spec))}


def _features_arrays(features):
    from policy_themes.features.blocks import HashedNgrams, HashedTfidf
    from policy_themes.features.embeddings import SentenceEmbeddings
    from policy_themes.model.classifier import RuleVotes

    arrays: dict[str, np.ndarray] = {}
    blocks, taxonomy = [], None
    for name, transformer, column in features.transformers_:
        if name == "remainder":
            if transformer != "drop":
                return None
            continue
        if column not in ("text", "context"):
            return None
        if type(transformer) is HashedTfidf:
            blocks.append({"name": name, "kind": "tfidf", "column": column,
                           **transformer._settings()})
            arrays[f"{name}.buckets"] = transformer.buckets_
            arrays[f"{name}.idf"] = transformer.idf_
        elif type(transformer) is HashedNgrams:
            blocks.append({"name": name, "kind": "hashed", "column": column,
                           **transformer._settings()})
        elif type(transformer) is SentenceEmbeddings:
            blocks.append({"name": name, "kind": "embeddings", "column": column,
                           "model": transformer.model, "scale": float(transformer.scale),
                           "width": int(transformer.n_features_out_),
                           "model_version": transformer.model_version_})
        elif type(transformer) is RuleVotes:
            blocks.append({"name": name, "kind": "rules", "column": column,
                           "per_line": bool(getattr(transformer, "per_line", False)),
                           "n_themes": len(transformer.themes_)})
            taxonomy = transformer.taxonomy
        else:
            return None
    return blocks, taxonomy, arrays


def _compile_heads(clf):
    """The classifier's spec and arrays: ``logistic`` (softmax primary head) or ``ovr``
    (one-vs-rest heads, LIBLINEAR's or SGD's, normalised like scikit-learn's
    ``_predict_proba_lr``)."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from policy_themes.model.classifier import ThemeClassifier
    from policy_themes.model.one_vs_rest import OneVsRestLogistic
    from policy_themes.model.streaming import StreamingThemeClassifier

    if type(clf) is StreamingThemeClassifier and hasattr(clf, "state_"):
        return _compile_outputs(clf)
    if type(clf) is ThemeClassifier and isinstance(clf.primary_,
                                                  (LogisticRegression, OneVsRestLogistic)):
        kind = "ovr" if isinstance(clf.primary_, OneVsRestLogistic) else "logistic"
        head_type = LogisticRegression  # the membership heads, whatever the primary head
        columns = [int(c) for c in clf._primary_columns]
    elif (type(clf) is StreamingThemeClassifier and isinstance(clf.primary_, SGDClassifier)
          and clf.primary_.loss == "log_loss"):
        kind, head_type = "ovr", SGDClassifier
        columns = [list(clf.classes_).index(c) for c in clf.primary_.classes_]
    else:
        return None
    if any(not isinstance(h, (float, head_type)) for h in clf.membership_):
        return None
    stacked = stack_heads(clf.membership_, clf.primary_.coef_.shape[1])
    arrays = {
        "primary.coef": clf.primary_.coef_,
        "primary.intercept": clf.primary_.intercept_,
        "membership.coef": stacked["coef"],
        "membership.intercept": stacked["intercept"],
    }
    spec = {
        "primary_kind": kind,
        "classes": list(map(str, clf.classes_)),
        "themes": list(map(str, clf.themes_)),
        "thresholds": dict(clf.thresholds or {}),
        "primary_columns": columns,
        "primary_binary": len(clf.primary_.classes_) <= 2,
        "multilabel": bool(clf.membership_),
        "membership_columns": stacked["columns"],
        "membership_constants": stacked["constants"],
    }
    return spec, arrays


def _compile_outputs(clf):
    """A :class:`~policy_themes.model.streaming.StreamingThemeClassifier`: one linear model whose
    class outputs are a softmax (``logistic``) and whose theme outputs are logistic."""
    themes = list(map(str, clf.themes_))
    spec = {
        "primary_kind": "logistic",
        "classes": list(map(str, clf.classes_)),
        "themes": themes,
        "thresholds": dict(clf.thresholds or {}),
        "primary_columns": list(range(len(clf.classes_))),
        "primary_binary": False,
        "multilabel": bool(clf.multilabel),
        "membership_columns": list(range(len(themes))) if clf.multilabel else [],
        "membership_constants": [],
    }
    return spec, dict(clf.heads())
