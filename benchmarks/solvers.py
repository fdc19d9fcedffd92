"""Which solvers and settings fit the default model fastest at the same accuracy.

Grouped 5-fold CV on the real UN General Debate sentences, as ``benchmarks/real_cv.py`` runs
it (the invented sentences always in training, the real ones weighted 3, folds held out by
speech, thresholds chosen on the out-of-fold figures), but with each fold's feature matrices
computed once per feature setting and shared by every classifier setting: the table's CPU
seconds are the classifier's fit alone (both heads, one process, one thread), the part of
training the solvers decide.

    python benchmarks/solvers.py                 # every setting below, ~5 minutes idle
    python benchmarks/solvers.py --only "newton-cg (before)" "liblinear (now)"

Prints a Markdown table; results in ``benchmarks/results/training_speed.md``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from real_cv import FOLDS, load_corpus  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import StratifiedGroupKFold  # noqa: E402

from policy_themes.config import load_train_config  # noqa: E402
from policy_themes.evaluation.metrics import compute_metrics  # noqa: E402
from policy_themes.model.classifier import build_pipeline, decide_themes, make_frame  # noqa: E402
from policy_themes.model.decisions import choose_thresholds  # noqa: E402
from policy_themes.rules.taxonomy import load_taxonomy  # noqa: E402
from policy_themes.workflows.training import fitting_inputs  # noqa: E402

REAL_WEIGHT = 3.0
#: name -> (feature parameters, classifier parameters[, dtype of the matrices]), over the
#: shipped config's
SETTINGS = {
    "newton-cg (before), char 2-5, C 10": (
        {"features__char__ngram_range": [2, 5]},
        {"solver": "newton-cg", "tol": 1e-4, "C": 10.0}),
    "newton-cg, char 2-5, C 10, float32 features": (
        {"features__char__ngram_range": [2, 5]},
        {"solver": "newton-cg", "tol": 1e-4, "C": 10.0}, np.float32),
    "liblinear, tol 1e-4, char 2-5, C 10": (
        {"features__char__ngram_range": [2, 5]}, {"solver": "liblinear", "tol": 1e-4, "C": 10.0}),
    "liblinear, LIBLINEAR's tol, char 2-5, C 10": (
        {"features__char__ngram_range": [2, 5]}, {"solver": "liblinear", "C": 10.0}),
    "liblinear, char 3-5, C 10": ({"features__char__ngram_range": [3, 5]}, {"C": 10.0}),
    "liblinear, char 2-4, C 10": ({"features__char__ngram_range": [2, 4]}, {"C": 10.0}),
    "liblinear, char 3-4, C 10": ({"features__char__ngram_range": [3, 4]}, {"C": 10.0}),
    "liblinear, char 3-5, C 1": ({"features__char__ngram_range": [3, 5]}, {"C": 1.0}),
    "liblinear, char 3-5, C 3 (now)": ({"features__char__ngram_range": [3, 5]}, {"C": 3.0}),
    "liblinear, char 3-5, C 30": ({"features__char__ngram_range": [3, 5]}, {"C": 30.0}),
}


def fold_features(config, taxonomy, corpus, feature_params: dict) -> list[dict]:
    """Each fold's training and held-out feature matrices for one feature setting."""
    config = config.with_overrides(params=feature_params)
    real = corpus.real
    primary = np.array([t[0] for t in real["themes"]], dtype=object)
    splitter = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    folds = []
    for train, test in splitter.split(real, primary, real["doc_id"].astype(str).to_numpy()):
        texts = [real["text"].iat[i] for i in train] + corpus.invented["text"].tolist()
        themes = [real["themes"].iat[i] for i in train] + corpus.invented["themes"].tolist()
        context = [corpus.real_context[i] for i in train] + corpus.invented_context
        inputs = fitting_inputs(make_frame(texts, context), config)
        features = clone(build_pipeline(config, taxonomy).named_steps["features"])
        X = features.fit_transform(inputs, themes).tocsr()
        held = make_frame([real["text"].iat[i] for i in test],
                          [corpus.real_context[i] for i in test])
        folds.append({"X": X, "themes": themes, "test": test,
                      "weights": np.r_[np.full(len(train), REAL_WEIGHT),
                                       np.ones(len(corpus.invented))],
                      "X_test": features.transform(held).tocsr()})
    return folds


def cross_validate(clf, folds, gold, thresholds_config, dtype=np.float64) -> dict:
    """Out-of-fold figures of ``clf`` over ``folds``, and its mean fit CPU seconds."""
    proba = membership = None
    seconds = []
    for fold in folds:
        start = time.process_time()
        fitted = clone(clf).fit(fold["X"].astype(dtype), fold["themes"],
                                sample_weight=fold["weights"])
        seconds.append(time.process_time() - start)
        X_test = fold["X_test"].astype(dtype)
        if proba is None:
            classes, themes = list(fitted.classes_), list(fitted.themes_)
            proba, membership = np.zeros((len(gold), len(classes))), np.zeros((len(gold),
                                                                                 len(themes)))
        proba[fold["test"]] = fitted.predict_proba(X_test)
        membership[fold["test"]] = fitted.membership_proba(X_test)
    thresholds = choose_thresholds(membership, gold, themes, thresholds_config)
    primary, sets = decide_themes(proba, membership, classes, themes,
                                  np.array([thresholds[t] for t in themes]))
    metrics = compute_metrics(gold, primary, sets, proba, classes, n_boot=1000, seed=0)
    return {**metrics, "fit_cpu_s": float(np.mean(seconds))}


def ci(metrics: dict, key: str) -> str:
    low, high = metrics.get(f"{key}_ci", (np.nan, np.nan))
    return f"{metrics[key]:.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    config, taxonomy = load_train_config(), load_taxonomy()
    corpus = load_corpus(config, taxonomy)
    gold = corpus.real["themes"].tolist()
    base = build_pipeline(config, taxonomy).named_steps["clf"]
    cache = {}
    print("| setting | fit CPU s per fold | accuracy | macro-F1 | theme-set micro-F1 |\n"
          "|---|---:|---|---|---|")
    for name in args.only:
        feature_params, clf_params, *dtype = SETTINGS[name]
        key = repr(sorted(feature_params.items()))
        if key not in cache:
            cache[key] = fold_features(config, taxonomy, corpus, feature_params)
        result = cross_validate(clone(base).set_params(**clf_params), cache[key], gold,
                                config.thresholds, dtype[0] if dtype else np.float64)
        print(f"| {name} | {result['fit_cpu_s']:.1f} | {ci(result, 'accuracy')} | "
              f"{ci(result, 'macro_f1')} | {ci(result, 'set_micro_f1')} |", flush=True)


if __name__ == "__main__":
    main()
