"""A trained model as plain arrays, to predict without scikit-learn.

``policy-themes train`` saves, beside ``model.joblib``, ``model.npz``: the same fitted pipeline
as NumPy arrays (each feature block's buckets and idf, the logistic regressions' coefficients) and
a JSON description (blocks, classes, thresholds, the taxonomy's rules). :class:`CompiledModel`
predicts from it with NumPy and SciPy only, with the same code that computes the features in
training (:mod:`.ngrams`, :class:`~policy_themes.labeling.RuleMatcher`) and the same arithmetic as
scikit-learn's ``LogisticRegression.predict_proba``, so its probabilities are the pipeline's.

What it buys: ``predict`` starts without importing scikit-learn (about a second), worker
processes stay smaller, and loading needs no unpickling (``np.load(allow_pickle=False)``).
Default and streaming models compile; pipelines with other steps (the ``TfidfVectorizer``
features of models trained by earlier builds) are not compiled and predict through scikit-learn
as before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .taxonomy import NO_THEME, Rule, Taxonomy, Theme

__all__ = ["COMPILED_FILE", "CompiledModel", "compile_pipeline", "decide_themes", "softmax",
           "stack_heads", "stacked_membership_proba", "linear_scores"]

COMPILED_FILE = "model.npz"
FORMAT = 1


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, in place, computed as scikit-learn's ``extmath.softmax``."""
    scores -= np.max(scores, axis=1).reshape((-1, 1))
    np.exp(scores, scores)
    scores /= np.sum(scores, axis=1).reshape((-1, 1))
    return scores


def expit(values: np.ndarray) -> np.ndarray:
    """The logistic function (``scipy.special.expit``)."""
    from scipy.special import expit as _expit

    return _expit(values)


def decide_themes(proba: np.ndarray, membership: np.ndarray, classes: list[str],
                  themes: list[str], thresholds: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Turn probabilities into primary themes and theme sets.

    Parameters
    ----------
    proba : ndarray of shape (n, n_classes)
        Primary-theme probabilities over ``classes``.
    membership : ndarray of shape (n, n_themes)
        Membership probabilities over ``themes`` (``none`` excluded).
    classes, themes : list of str
        Column ids of ``proba`` and ``membership``.
    thresholds : ndarray of shape (n_themes,)
        Membership thresholds.

    Returns
    -------
    primary : list of str
    theme_sets : list of list of str
        Primary first, then the other themes over their thresholds by decreasing probability;
        ``["none"]`` when the primary is ``none``.
    """
    primary_idx = np.argmax(proba, axis=1)
    primary = [classes[i] for i in primary_idx]
    theme_column = {t: j for j, t in enumerate(themes)}
    primary_column = np.array([theme_column.get(c, -1) for c in classes])[primary_idx] \
        if len(primary) else np.zeros(0, dtype=np.int64)
    over = membership >= thresholds[None, :]
    if over.size:
        over[np.flatnonzero(primary_column >= 0), primary_column[primary_column >= 0]] = False
    extra_rows = set(np.flatnonzero(over.any(axis=1)).tolist()) if over.size else set()
    sets = []
    for i, first in enumerate(primary):
        if first == NO_THEME:
            sets.append([NO_THEME])
        elif i in extra_rows:
            extra = [j for j in np.argsort(-membership[i], kind="stable") if over[i, j]]
            sets.append([first] + [themes[j] for j in extra])
        else:
            sets.append([first])
    return primary, sets


def stack_heads(membership: list, width: int) -> dict:
    """The binary membership heads as one weight matrix, so that one product scores them all.

    Parameters
    ----------
    membership : list
        Per theme, a fitted binary linear classifier (``coef_``, ``intercept_``) or a float (the
        constant rate of a theme that never or always occurs).
    width : int
        Number of features.

    Returns
    -------
    dict
        ``columns`` (the themes with a head), ``coef`` (width × heads), ``intercept`` and
        ``constants`` (``[column, rate]`` pairs).
    """
    heads = [(j, h) for j, h in enumerate(membership) if not isinstance(h, float)]
    return {
        "columns": [j for j, _ in heads],
        "coef": (np.column_stack([h.coef_[0] for _, h in heads]) if heads
                 else np.zeros((width, 0))),
        "intercept": np.array([h.intercept_[0] for _, h in heads]),
        "constants": [[j, h] for j, h in enumerate(membership) if isinstance(h, float)],
    }


def linear_scores(X, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``X @ coef + intercept`` as float64, computed in the precision of ``coef``: float32
    weights (streaming models) take float32 features rather than being copied to float64 for
    every batch."""
    if coef.dtype == np.float32 and X.dtype != np.float32:
        X = X.astype(np.float32)
    return np.asarray(X @ coef + intercept, dtype=np.float64)


def stacked_membership_proba(X, n_themes: int, columns: list[int], coef: np.ndarray,
                             intercept: np.ndarray, constants: list) -> np.ndarray:
    """Membership probabilities from :func:`stack_heads`: the logistic function of each head's
    decision, the same numbers as the heads' own ``predict_proba(X)[:, 1]``."""
    proba = np.empty((X.shape[0], n_themes))
    if columns:
        proba[:, columns] = expit(linear_scores(X, coef, intercept))
    for column, value in constants:
        proba[:, column] = value
    return proba


def compile_pipeline(pipeline) -> dict[str, np.ndarray] | None:
    """The arrays of ``model.npz`` for a fitted pipeline of the package's shape, or None.

    Compiles ``input`` → ``features`` (a ColumnTransformer of :class:`HashedTfidf`,
    :class:`HashedNgrams` and :class:`RuleVotes` blocks) → ``clf`` (a :class:`ThemeClassifier`
    of logistic regressions, or a :class:`StreamingThemeClassifier`, trained now or by an earlier
    build with ``log_loss`` SGD heads);
    anything else (for instance the ``TfidfVectorizer`` features of models trained by earlier
    builds) returns None.
    """
    from sklearn.compose import ColumnTransformer

    from .pipeline import InputFrame

    steps = getattr(pipeline, "named_steps", {})
    features, clf = steps.get("features"), steps.get("clf")
    if (list(steps) != ["input", "features", "clf"] or not isinstance(steps["input"], InputFrame)
            or not isinstance(features, ColumnTransformer)):
        return None
    compiled = _compile_features(features)
    heads = _compile_heads(clf)
    if compiled is None or heads is None:
        return None
    (blocks, taxonomy, arrays), (head_spec, head_arrays) = compiled, heads
    spec = {"format": FORMAT, "blocks": blocks, **head_spec,
            "taxonomy": _taxonomy_dict(taxonomy) if taxonomy is not None else None}
    return {**arrays, **head_arrays, "spec": np.array(json.dumps(spec))}


def _compile_features(features):
    from .features import HashedNgrams, HashedTfidf
    from .pipeline import RuleVotes

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
    (one-vs-rest SGD heads, normalised like scikit-learn's ``_predict_proba_lr``)."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from .pipeline import ThemeClassifier
    from .streaming import StreamingThemeClassifier

    if type(clf) is StreamingThemeClassifier and hasattr(clf, "state_"):
        return _compile_outputs(clf)
    if type(clf) is ThemeClassifier and isinstance(clf.primary_, LogisticRegression):
        kind, head_type = "logistic", LogisticRegression
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
    """A :class:`~policy_themes.streaming.StreamingThemeClassifier`: one linear model whose
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


def _taxonomy_dict(taxonomy: Taxonomy) -> dict:
    return {"name": taxonomy.name, "source": taxonomy.source,
            "themes": [{"id": t.id, "name": t.name, "description": t.description,
                        "rules": [{"name": r.name, "theme": r.theme, "patterns": list(r.patterns),
                                   "exclude": list(r.exclude), "weight": r.weight}
                                  for r in t.rules]}
                       for t in taxonomy.themes]}


def _taxonomy(raw: dict) -> Taxonomy:
    themes = tuple(
        Theme(t["id"], t["name"], t["description"],
              tuple(Rule(r["name"], r["theme"], tuple(r["patterns"]), tuple(r["exclude"]),
                         float(r["weight"])) for r in t["rules"]))
        for t in raw["themes"])
    return Taxonomy(themes, name=raw["name"], source=raw.get("source", ""))


class CompiledModel:
    """Predict from the arrays of ``model.npz`` with NumPy and SciPy only.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        What :func:`compile_pipeline` returned (or ``np.load`` of the saved file).
    """

    def __init__(self, arrays, *, path: str | Path | None = None, sha256: str | None = None):
        spec = json.loads(str(arrays["spec"]))
        if spec.get("format") != FORMAT:
            raise ValueError(f"model.npz format {spec.get('format')} (this build reads {FORMAT})")
        self.spec = spec
        self.classes = list(spec["classes"])
        self.themes = list(spec["themes"])
        self.thresholds = dict(spec["thresholds"])
        self.taxonomy = _taxonomy(spec["taxonomy"]) if spec.get("taxonomy") else None
        self.path = Path(path) if path is not None else None
        self.sha256 = sha256
        names = arrays.files if hasattr(arrays, "files") else list(arrays)
        self._arrays = None if self.path is not None else \
            {k: np.asarray(arrays[k]) for k in names if k != "spec"}
        self._lookups: dict[str, np.ndarray] = {}
        self._matcher = None

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None, *,
             checked: bool = False) -> CompiledModel:
        """Read the description of ``model.npz`` now and its arrays on first use (no pickles:
        ``allow_pickle=False``). ``sha256``, when given, is checked before the arrays are read,
        so a process that receives this object reads the file that was checked; ``checked``
        says this process has just checked it (it is not hashed twice)."""
        with np.load(path, allow_pickle=False) as data:
            model = cls(data, path=path, sha256=sha256)
        model._checked_pid = os.getpid() if checked else None
        return model

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The model's arrays (read from ``path`` on first use)."""
        if self._arrays is None:
            from .artifacts import file_sha256
            from .errors import ModelError

            try:
                if (self.sha256 is not None and self.__dict__.get("_checked_pid") != os.getpid()
                        and file_sha256(self.path) != self.sha256):
                    raise ModelError(f"{self.path}: changed since the model was loaded; load it "
                                     "again")
                with np.load(self.path, allow_pickle=False) as data:
                    self._arrays = {k: data[k] for k in data.files if k != "spec"}
            except OSError as exc:
                raise ModelError(f"{self.path}: cannot be read ({exc.strerror or exc})") from None
        return self._arrays

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lookups"], state["_matcher"] = {}, None  # rebuilt on first use
        if self.path is not None:
            state["_arrays"] = None  # a worker process reads the file itself
        return state

    def embedded(self) -> CompiledModel:
        """A copy that carries its arrays when pickled, for processes that cannot read
        ``path`` (the workers of a Dask cluster on other machines)."""
        copy = object.__new__(CompiledModel)
        copy.__dict__.update(self.__dict__, _arrays=self.arrays, path=None, sha256=None,
                             _lookups={}, _matcher=None)
        return copy

    def features(self, texts: Sequence[str], context: Sequence[str] | None = None):
        """The feature matrix the pipeline's ``features`` step gives for these inputs."""
        texts = [str(t) for t in texts]
        context = [""] * len(texts) if context is None else [str(c) for c in context]
        blocks = []
        for block in self.spec["blocks"]:
            column = texts if block["column"] == "text" else context
            if block["kind"] == "tfidf":
                blocks.append(self._tfidf(block, column))
            elif block["kind"] == "hashed":
                blocks.append(self._hashed(block, column))
            else:
                blocks.append(self._rules(block, column))
        return sp.hstack(blocks).tocsr()

    def _tfidf(self, block: dict, texts: list[str]) -> sp.csr_matrix:
        from .ngrams import bucket_lookup, ngram_matrix

        name = block["name"]
        buckets = self.arrays[f"{name}.buckets"]
        if name not in self._lookups:
            self._lookups[name] = bucket_lookup(buckets, block["n_bits"])
        return ngram_matrix(texts, analyzer=block["analyzer"],
                            ngram_range=tuple(block["ngram_range"]), n_bits=block["n_bits"],
                            sublinear_tf=block["sublinear_tf"], norm=block["norm"],
                            lookup=self._lookups[name], n_columns=len(buckets),
                            idf=self.arrays[f"{name}.idf"])

    def _hashed(self, block: dict, texts: list[str]) -> sp.csr_matrix:
        from .ngrams import ngram_matrix

        return ngram_matrix(texts, analyzer=block["analyzer"],
                            ngram_range=tuple(block["ngram_range"]), n_bits=block["n_bits"],
                            sublinear_tf=block["sublinear_tf"], norm=block["norm"])

    def _rules(self, block: dict, texts: list[str]) -> sp.csr_matrix:
        from .labeling import RuleMatcher

        if self._matcher is None:
            self._matcher = RuleMatcher(self.taxonomy)
        return self._matcher.vote_features(texts, block["n_themes"], per_line=block["per_line"])

    def predict_proba(self, X) -> np.ndarray:
        """Probability that each class is the primary theme (as ``ThemeClassifier``)."""
        decision = linear_scores(X, self.arrays["primary.coef"].T,
                                 self.arrays["primary.intercept"])
        if self.spec["primary_binary"]:
            positive = expit(decision.reshape(-1))
            seen = np.column_stack([1 - positive, positive])
        elif self.spec.get("primary_kind", "logistic") == "logistic":
            seen = softmax(np.asarray(decision))
        else:  # one-vs-rest heads, normalised as scikit-learn's _predict_proba_lr
            seen = expit(np.asarray(decision))
            total = seen.sum(axis=1)
            zero = total == 0
            if zero.any():
                seen[zero, :] = 1
                total[zero] = seen.shape[1]
            seen /= total.reshape((seen.shape[0], -1))
        proba = np.zeros((X.shape[0], len(self.classes)))
        proba[:, self.spec["primary_columns"]] = seen
        return proba

    def membership_proba(self, X) -> np.ndarray:
        """Probability that each theme is among the sentence's themes."""
        if not self.spec["multilabel"]:
            proba = self.predict_proba(X)
            return proba[:, [self.classes.index(t) for t in self.themes]]
        return stacked_membership_proba(X, len(self.themes), self.spec["membership_columns"],
                                        self.arrays["membership.coef"],
                                        self.arrays["membership.intercept"],
                                        self.spec["membership_constants"])

    def predict_themes(self, texts: Sequence[str], context: Sequence[str] | None = None):
        """Primary themes, theme sets, primary and membership probabilities."""
        X = self.features(texts, context)
        proba = self.predict_proba(X)
        membership = self.membership_proba(X)
        thresholds = np.array([self.thresholds.get(t, 0.5) for t in self.themes])
        primary, sets = decide_themes(proba, membership, self.classes, self.themes, thresholds)
        return primary, sets, proba, membership
