"""Choose the default model's settings by cross-validation grouped by speech on real sentences.

The real sentences are the hand-labeled UN General Debate sentences of
``data/labeled/ungdc.csv``. Each of five folds holds out whole speeches; the model of a fold is
trained on the invented sentences of ``data/labeled/sentences.csv`` (always) and the real
sentences of the other folds (weighted), then predicts the held-out speeches. The per-theme
thresholds are chosen on the out-of-fold membership probabilities, as ``train`` does. Each
figure has a 95 % bootstrap interval; the evaluation set of ``../shared/eval`` is not read here.

    python benchmarks/real_cv.py                   # the settings grid, ~30 minutes on 2 cores
    python benchmarks/real_cv.py --only weight     # one group of settings

Prints a Markdown table and writes it to ``benchmarks/results/model_selection.md``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold

from policy_themes.config import ThresholdConfig, TrainConfig, load_train_config
from policy_themes.evaluation.metrics import compute_metrics
from policy_themes.features.context import frame_context
from policy_themes.io.labels import read_labeled
from policy_themes.model.classifier import build_pipeline, decide_themes, make_frame
from policy_themes.model.decisions import choose_thresholds
from policy_themes.rules.taxonomy import NO_THEME, load_taxonomy
from policy_themes.workflows.training import fitting_inputs

ROOT = Path(__file__).resolve().parents[1]
LABELED = ROOT / "data" / "labeled"
RESULTS = ROOT / "benchmarks" / "results" / "model_selection.md"
FOLDS = 5


@dataclass
class Corpus:
    """The invented and the real labeled sentences, with their contexts."""

    invented: pd.DataFrame
    real: pd.DataFrame
    invented_context: list[str]
    real_context: list[str]


def load_corpus(config: TrainConfig, taxonomy) -> Corpus:
    """Read both labeled files and each one's context as ``train`` reads it."""
    invented = read_labeled(LABELED / "sentences.csv", taxonomy)
    real = read_labeled(LABELED / "ungdc.csv", taxonomy)
    return Corpus(invented, real,
                  list(frame_context(invented, config.context, doc_column="doc_id")),
                  list(frame_context(real, config.context, doc_column="doc_id")))


@dataclass
class CVResult:
    """Out-of-fold predictions of the real sentences, with and without their context, and the
    thresholds chosen on them."""

    metrics: dict
    metrics_no_context: dict
    none_figures: dict
    seconds: float
    thresholds: dict
    predicted: list


def grouped_cv(config: TrainConfig, taxonomy, corpus: Corpus, *, weight: float,
               n_real: int | None = None, invented: bool = True, seed: int = 0,
               n_jobs: int = 2, n_boot: int = 1000, extra=None) -> CVResult:
    """Cross-validate a config on the real sentences, grouped by speech.

    ``n_real`` real sentences (at random, from the fold's training side) join the invented ones;
    ``extra(train_rows) -> (texts, themes, contexts, weights)`` may add rows per fold.
    """
    start = time.perf_counter()
    real = corpus.real
    primary = np.array([t[0] for t in real["themes"]], dtype=object)
    groups = real["doc_id"].astype(str).to_numpy()
    splitter = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    splits = list(splitter.split(real, primary, groups))
    pipeline = build_pipeline(config, taxonomy)
    jobs = [delayed(_fold)(clone(pipeline), corpus, train, test, weight=weight, n_real=n_real,
                           invented=invented, seed=seed + k, extra=extra, config=config)
            for k, (train, test) in enumerate(splits)]
    results = Parallel(n_jobs=n_jobs)(jobs)
    classes, theme_ids = results[0]["classes"], results[0]["themes"]
    gold = real["themes"].tolist()
    figures = {}
    for key in ("context", "no_context"):
        proba = np.zeros((len(real), len(classes)))
        membership = np.zeros((len(real), len(theme_ids)))
        for (_, test), result in zip(splits, results):
            proba[test], membership[test] = result[key]
        if key == "context":
            thresholds = choose_thresholds(membership, gold, theme_ids, config.thresholds)
        vector = np.array([thresholds[t] for t in theme_ids])
        chosen, sets = decide_themes(proba, membership, classes, theme_ids, vector)
        figures[key] = (compute_metrics(gold, chosen, sets, proba, classes, n_boot=n_boot,
                                        seed=0), chosen)
    none = {key: _none_figures(primary, np.array(figures[key][1], dtype=object))
            for key in figures}
    return CVResult(figures["context"][0], figures["no_context"][0], none,
                    time.perf_counter() - start, thresholds, list(figures["context"][1]))


def fit_and_score(config: TrainConfig, taxonomy, corpus: Corpus, test: pd.DataFrame, *,
                  weight: float, thresholds: dict, n_real: int | None = None, seed: int = 0,
                  n_boot: int = 1000) -> dict:
    """Fit on the invented and ``n_real`` real sentences, score a labeled ``test`` table (its
    context read as ``predict`` reads it) with the given thresholds."""
    rows = np.arange(len(corpus.real))
    out = _fold(build_pipeline(config, taxonomy), corpus, rows, np.array([], dtype=int),
                weight=weight, n_real=n_real, invented=True, seed=seed, extra=None,
                config=config, test_frame=test)
    proba, membership = out["context"]
    vector = np.array([thresholds[t] for t in out["themes"]])
    chosen, sets = decide_themes(proba, membership, out["classes"], out["themes"], vector)
    return compute_metrics(test["themes"].tolist(), chosen, sets, proba, out["classes"],
                           n_boot=n_boot, seed=0)


def _fold(pipeline, corpus: Corpus, train, test, *, weight, n_real, invented, seed, extra,
          config, test_frame=None):
    real = corpus.real
    if n_real is not None:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, size=min(n_real, len(train)), replace=False))
    texts = [real["text"].iat[i] for i in train]
    themes = [real["themes"].iat[i] for i in train]
    contexts = [corpus.real_context[i] for i in train]
    weights = [weight] * len(train)
    if invented:
        texts += corpus.invented["text"].tolist()
        themes += corpus.invented["themes"].tolist()
        contexts += corpus.invented_context
        weights += [1.0] * len(corpus.invented)
    if extra is not None:
        more = extra(train)
        texts += more[0]
        themes += more[1]
        contexts += more[2]
        weights += more[3]
    inputs = fitting_inputs(make_frame(texts, contexts if config.uses_context else None), config)
    pipeline.fit(inputs, themes, clf__sample_weight=np.asarray(weights))
    clf = pipeline.named_steps["clf"]
    out = {"classes": list(clf.classes_), "themes": list(clf.themes_)}
    if test_frame is None:
        test_texts = [real["text"].iat[i] for i in test]
        test_context = [corpus.real_context[i] for i in test]
    else:
        test_texts = test_frame["text"].tolist()
        test_context = list(frame_context(test_frame, config.context))
    for key, context in (("context", test_context), ("no_context", None)):
        features = pipeline.named_steps["features"].transform(
            make_frame(test_texts, context if config.uses_context else None))
        out[key] = (clf.predict_proba(features), clf.membership_proba(features))
    return out


def _none_figures(gold: np.ndarray, predicted: np.ndarray) -> dict:
    """Precision and recall of ``none``, and predicted over true ``none`` counts."""
    true_none, said_none = gold == NO_THEME, predicted == NO_THEME
    hits = int((true_none & said_none).sum())
    return {"precision": hits / max(int(said_none.sum()), 1),
            "recall": hits / max(int(true_none.sum()), 1),
            "ratio": int(said_none.sum()) / max(int(true_none.sum()), 1)}


class SelfTraining:
    """Self-training on the archive's unlabeled sentences, as an ``extra`` of :func:`grouped_cv`.

    Per fold, a model trained on the fold's labeled sentences labels ``pool`` sentences of
    speeches that no labeled sentence comes from; the ones it gives a primary theme with
    probability >= ``confidence`` (at most ``per_theme`` of a theme, the most confident first)
    join the fold's training data with weight ``weight``.
    """

    def __init__(self, config: TrainConfig, taxonomy, corpus: Corpus, pool: pd.DataFrame, *,
                 confidence: float = 0.9, per_theme: int = 300, weight: float = 0.5,
                 real_weight: float = 3.0):
        self.config, self.taxonomy, self.corpus, self.pool = config, taxonomy, corpus, pool
        self.confidence, self.per_theme = confidence, per_theme
        self.weight, self.real_weight = weight, real_weight
        self.pool_context = list(frame_context(pool, config.context))

    def __call__(self, train_rows):
        out = _fold(build_pipeline(self.config, self.taxonomy), self.corpus, train_rows,
                    np.array([], dtype=int), weight=self.real_weight, n_real=None,
                    invented=True, seed=0, extra=None, config=self.config,
                    test_frame=self.pool)
        proba = out["context"][0]
        best, chosen = proba.max(axis=1), proba.argmax(axis=1)
        keep = []
        for j in range(proba.shape[1]):
            rows = np.flatnonzero((chosen == j) & (best >= self.confidence))
            keep += list(rows[np.argsort(-best[rows])][:self.per_theme])
        keep = sorted(keep)
        classes = out["classes"]
        return ([self.pool["text"].iat[i] for i in keep], [[classes[chosen[i]]] for i in keep],
                [self.pool_context[i] for i in keep], [self.weight] * len(keep))


def unlabeled_pool(corpus: Corpus, size: int = 30_000, seed: int = 0) -> pd.DataFrame:
    """Sentences of UN General Debate speeches (1960 on) that no labeled sentence comes from,
    with two sentences of context on each side, as ``ungdc.csv`` has them."""
    import sys

    from policy_themes.text.lines import SEPARATOR
    from policy_themes.text.sentences import split_sentences

    sys.path.insert(0, str(ROOT / "tools"))
    from ungdc_sample import read_speeches

    speeches = read_speeches()
    speeches = speeches[~speeches["speech_id"].isin(set(corpus.real["doc_id"]))]
    rng = np.random.default_rng(seed)
    rows = []
    for index in rng.permutation(len(speeches)):
        speech = speeches.iloc[index]
        texts = [s.text for s in split_sentences(speech["text"], speech["speech_id"])]
        for i, text in enumerate(texts):
            rows.append((text, speech["speech_id"], SEPARATOR.join(texts[max(i - 2, 0):i]),
                         SEPARATOR.join(texts[i + 1:i + 3])))
        if len(rows) >= size:
            break
    return pd.DataFrame(rows[:size], columns=["text", "doc_id", "context_before",
                                              "context_after"])


def ci(metrics: dict, key: str) -> str:
    value, interval = metrics[key], metrics.get(f"{key}_ci")
    if not interval or interval[0] is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def settings(base: TrainConfig) -> dict[str, dict]:
    """The grid: each entry a config and the real sentences' weight."""
    low_floor = replace(base, thresholds=ThresholdConfig(default=0.5, minimum=0.1, maximum=0.9))
    return {
        "weight": {f"real weight {w}": {"config": base, "weight": w} for w in (1, 3, 5)},
        "C": {f"C = {c}": {"config": base.with_overrides(params={"clf__C": c}), "weight": 3}
              for c in (3.0, 30.0)},
        "thresholds": {"threshold floor 0.1": {"config": low_floor, "weight": 3}},
        "class_weight": {"no class weights": {
            "config": base.with_overrides(params={"clf__class_weight": None}), "weight": 3}},
        "sources": {"real sentences only": {"config": base, "weight": 1, "invented": False}},
        "context": {"no context features": {"config": base.without_context(), "weight": 3}},
        "dropout": {f"context dropout {p}": {
            "config": replace(base, context=replace(base.context, dropout=p)), "weight": 3}
            for p in (0.3, 0.5)},
    }


def table(rows: list[tuple[str, CVResult]]) -> str:
    out = ["| setting | accuracy | macro-F1 | theme-set micro-F1 | accuracy without context "
           "| none P / R / predicted÷true (with context) | (without) | s |",
           "|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        n, m = r.none_figures["context"], r.none_figures["no_context"]
        out.append(f"| {name} | {ci(r.metrics, 'accuracy')} | {ci(r.metrics, 'macro_f1')} | "
                   f"{ci(r.metrics, 'set_micro_f1')} | {ci(r.metrics_no_context, 'accuracy')} | "
                   f"{n['precision']:.2f} / {n['recall']:.2f} / {n['ratio']:.2f} | "
                   f"{m['precision']:.2f} / {m['recall']:.2f} / {m['ratio']:.2f} | "
                   f"{r.seconds:.0f} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="groups of settings to run")
    parser.add_argument("--config", type=Path, default=None, help="the base training config")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--self-training", action="store_true",
                        help="try self-training on unlabeled archive sentences")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    base = load_train_config(args.config)
    corpus = load_corpus(base, taxonomy)
    grid = settings(base)
    rows = []
    if args.self_training:
        pool = unlabeled_pool(corpus)
        for confidence in (0.9, 0.7):
            extra = SelfTraining(base, taxonomy, corpus, pool, confidence=confidence)
            result = grouped_cv(base, taxonomy, corpus, weight=3, n_jobs=args.jobs,
                                extra=extra)
            name = f"self-training: {len(pool):,} archive sentences, p >= {confidence}"
            rows.append((name, result))
            print(table([(name, result)]).splitlines()[-1], flush=True)
    for group in args.only or ([] if args.self_training else list(grid)):
        for name, setting in grid[group].items():
            result = grouped_cv(setting["config"], taxonomy, corpus, weight=setting["weight"],
                                invented=setting.get("invented", True), n_jobs=args.jobs)
            rows.append((name, result))
            print(table([(name, result)]).splitlines()[-1], flush=True)
    text = (f"# Model selection: grouped 5-fold CV on the real UN General Debate sentences\n\n"
            f"Made by `python benchmarks/real_cv.py` on {date.today().isoformat()} from "
            f"`{base.source}`; {len(corpus.real):,} real sentences of "
            f"{corpus.real['doc_id'].nunique():,} speeches held out by speech, the "
            f"{len(corpus.invented):,} invented sentences always trained on (95 % bootstrap "
            f"intervals).\n\n{table(rows)}\n")
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
