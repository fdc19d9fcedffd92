"""How many deliberately wrong labels ``policy-themes audit`` finds.

The shipped labeled data (``data/labeled/sentences.csv`` and ``ungdc.csv``, what ``train``
learns from by default) gets 5 % of its primary labels flipped at random (each to another
class, uniformly; a seed per run). Out-of-fold probabilities come from the audit's own
cross-validation (:func:`policy_themes.workflows.audit.audit_out_of_fold`, what ``audit``
calls: two 5-fold cross-validations not grouped by document, averaged) and, beside it, from the
cross-validation ``train`` runs (5 folds grouped by document, the shipped config:
:func:`out_of_fold_proba`, what ``audit`` called before); the rows are ranked
(:func:`policy_themes.workflows.audit.rank_label_issues`) and the figure is the share of the
flipped rows among the top 10 % of the ranking. Beside them, the baseline of the issue: a plain
word + character TF-IDF logistic regression (scikit-learn defaults, 5 folds grouped by
document) ranking rows by the out-of-fold probability of their given label.

    python benchmarks/audit.py                  # 3 seeds, every variant
    python benchmarks/audit.py --seeds 5 --no-embeddings   # what results/audit.md shows
    python benchmarks/audit.py --seeds 0 --no-embeddings   # the timing alone

Also times ``audit_labels`` (the command's API) on a 10,000-row table. Prints Markdown and
writes ``benchmarks/results/audit.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedGroupKFold

from policy_themes.config import load_train_config
from policy_themes.rules.taxonomy import NO_THEME, load_taxonomy
from policy_themes.workflows.audit import (
    AUDIT_FOLDS,
    AUDIT_REPEATS,
    audit_out_of_fold,
    embedding_config,
    rank_label_issues,
)
from policy_themes.workflows.training import out_of_fold_proba
from policy_themes.workflows.training_data import DEFAULT_DATA, read_training_rows

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "audit.md"
FLIPPED = 0.05
TOP = 0.10


def flip_labels(themes: list[list[str]], classes: list[str], seed: int
                ) -> tuple[np.ndarray, list[list[str]]]:
    """Flip ``FLIPPED`` of the rows' primary labels to another class, uniformly at random;
    the other themes of a row stay (``none`` stands alone)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(themes), size=int(round(FLIPPED * len(themes))), replace=False)
    flipped = [list(t) for t in themes]
    for i in rows:
        others = [c for c in classes if c != flipped[i][0]]
        new = others[rng.integers(len(others))]
        flipped[i] = [new] if new == NO_THEME else [new] + [t for t in flipped[i][1:] if t != new]
    return np.sort(rows), flipped


def found_share(order: np.ndarray, flipped: np.ndarray) -> float:
    """The share of the flipped rows among the first ``TOP`` of the ranking."""
    top = order[: int(round(TOP * len(order)))]
    return float(np.isin(flipped, top).mean())


def baseline_proba(texts, primary, groups, classes, seed: int, n_jobs: int) -> np.ndarray:
    """Out-of-fold probabilities of a plain word + char TF-IDF logistic regression."""
    splits = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed).split(
        texts, primary, groups)
    texts = np.asarray(texts, dtype=object)
    proba = np.zeros((len(texts), len(classes)))
    folds = Parallel(n_jobs=n_jobs)(delayed(_baseline_fold)(texts, primary, train, test)
                                    for train, test in splits)
    for test, fold_classes, fold_proba in folds:
        for j, c in enumerate(fold_classes):
            proba[test, classes.index(c)] = fold_proba[:, j]
    return proba


def _baseline_fold(texts, primary, train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(TfidfVectorizer(sublinear_tf=True),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                   min_df=2)),
        LogisticRegression(max_iter=1000))
    model.fit(texts[train], primary[train])
    return test, list(model.classes_), model.predict_proba(texts[test])


def run_seed(seed: int, rows, config, taxonomy, args) -> tuple[dict, dict]:
    """Every variant's share of flipped rows found, and each probability source's seconds."""
    classes = list(taxonomy.ids)
    flipped, themes = flip_labels(rows.frame["themes"].tolist(), classes, seed)
    primary = np.array([t[0] for t in themes], dtype=object)
    given = np.array([classes.index(p) for p in primary])
    texts = rows.frame["text"].tolist()
    sources, seconds = {}, {}

    def timed(name, make):
        start = time.perf_counter()
        sources[name] = make()
        seconds[name] = time.perf_counter() - start

    def oof(cfg):
        result = out_of_fold_proba(texts, themes, config=cfg, taxonomy=taxonomy,
                                   groups=rows.groups, context=rows.context,
                                   sample_weight=rows.weights, n_jobs=args.jobs)
        assert result.classes == classes
        return result.proba

    def audit_oof(repeats):
        result = audit_out_of_fold(texts, themes, config=config, taxonomy=taxonomy,
                                   context=rows.context, sample_weight=rows.weights,
                                   repeats=repeats, n_jobs=args.jobs)
        assert result.classes == classes
        return result.proba

    timed("baseline", lambda: baseline_proba(texts, primary, rows.groups, classes,
                                             config.seed, args.jobs))
    timed("model", lambda: oof(config))
    timed("audit", lambda: audit_oof(AUDIT_REPEATS))
    timed("audit, one run", lambda: audit_oof(1))
    if args.embeddings:
        timed("embeddings", lambda: oof(embedding_config(config)))
    figures = {}
    for name, ranking, first, proba in _variants(sources):
        order = rank_label_issues(proba, given, ranking=ranking, issues_first=first).order
        figures[name] = found_share(order, flipped)
    return figures, seconds


def _variants(sources: dict):
    """(row name, ranking, issues first, probabilities) of every variant measured."""
    yield ("baseline: TF-IDF + logistic regression, self-confidence", "self_confidence", False,
           sources["baseline"])
    yield (f"**audit (new default): {AUDIT_REPEATS} cross-validations of {AUDIT_FOLDS} folds "
           "not grouped by document averaged (the model's config; without character n-grams), "
           "self-confidence**", "self_confidence", False, sources["audit"])
    yield (f"the first alone: one cross-validation of {AUDIT_FOLDS} folds not grouped by "
           "document, the model's config", "self_confidence", False, sources["audit, one run"])
    yield ("the new default, normalized margin", "margin", False, sources["audit"])
    yield ("the new default, confident joint's issues first, by self-confidence",
           "self_confidence", True, sources["audit"])
    model = sources["model"]
    yield ("old audit: the model's config, 5 folds grouped by document, self-confidence",
           "self_confidence", False, model)
    yield ("the model's config, grouped, normalized margin", "margin", False, model)
    yield ("the model's config, grouped, confident joint's issues first, by margin", "margin",
           True, model)
    yield ("the model's config, grouped, confident joint's issues first, by self-confidence",
           "self_confidence", True, model)
    yield ("the model's config, grouped + the baseline averaged, self-confidence",
           "self_confidence", False, (model + sources["baseline"]) / 2)
    if "embeddings" in sources:
        embedded = sources["embeddings"]
        yield ("sentence embeddings alone, self-confidence", "self_confidence", False, embedded)
        both = (model + embedded) / 2
        yield ("old audit --embeddings: the model's config + embeddings (grouped folds), "
               "self-confidence",
               "self_confidence", False, both)
        yield ("the model's config + embeddings, normalized margin", "margin", False, both)
        yield ("the model's config + embeddings, issues first, by self-confidence",
               "self_confidence", True, both)


def time_audit(rows, args) -> list[dict]:
    """Wall time of ``audit_labels`` on a 10,000-row table with the default model's config,
    and of the old audit (the model's own grouped cross-validation) on the same table."""
    from policy_themes.workflows.audit import audit_labels

    frame = rows.frame.head(10_000)
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "labeled.csv"
        out = frame.assign(themes=[";".join(t) for t in frame["themes"]])
        out[["text", "themes", "doc_id"]].to_csv(table, index=False)
        runs = [(f"audit (the default: {AUDIT_FOLDS} folds x {AUDIT_REPEATS} fold seeds)", {}),
                ("audit --repeats 1", {"repeats": 1}),
                ("audit --folds 3 --repeats 1", {"folds": 3, "repeats": 1})]
        if args.embeddings:
            runs.append(("audit --embeddings", {"embeddings": True}))
        _old_audit(table, args.jobs)  # warm up: the first run compiles the n-gram kernels
        start = time.perf_counter()
        _old_audit(table, args.jobs)
        timings.append({"command": "old audit (the model's config, 5 folds grouped by "
                                   "document)", "seconds": time.perf_counter() - start})
        for label, kwargs in runs:
            _forget_embeddings()  # the runs above embedded these sentences: time it afresh
            start = time.perf_counter()
            audit_labels([table], config=load_train_config(), n_jobs=args.jobs, **kwargs)
            timings.append({"command": label, "seconds": time.perf_counter() - start})
    return timings


def _old_audit(table: Path, jobs: int) -> None:
    """What ``audit_labels`` did before: the model's own cross-validation, grouped."""
    config, taxonomy = load_train_config(), load_taxonomy()
    rows = read_training_rows([table], taxonomy, config)
    oof = out_of_fold_proba(rows.frame["text"].tolist(), rows.frame["themes"].tolist(),
                            config=config, taxonomy=taxonomy, groups=rows.groups,
                            context=rows.context, sample_weight=rows.weights, n_jobs=jobs)
    given = [oof.classes.index(t[0]) for t in rows.frame["themes"]]
    rank_label_issues(oof.proba, given, ranking="self_confidence", issues_first=False)


def _forget_embeddings() -> None:
    from policy_themes.features import embeddings

    embeddings._cache.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-embeddings", dest="embeddings", action="store_false")
    parser.add_argument("--no-timing", dest="timing", action="store_false")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    config, taxonomy = load_train_config(), load_taxonomy()
    rows = read_training_rows(list(DEFAULT_DATA), taxonomy, config)
    results, seconds = [], []
    if not args.seeds:  # --seeds 0: the timing alone
        text = "\n".join(f"- {t['command']}: {t['seconds']:.1f} s"
                         for t in time_audit(rows, args))
        print(f"{text}\nload average {os.getloadavg()[0]:.1f}")
        return
    for seed in range(args.seeds):
        figures, times = run_seed(seed, rows, config, taxonomy, args)
        results.append(figures)
        seconds.append(times)
        print(f"seed {seed}: " + "; ".join(f"{k}: {v:.3f}" for k, v in figures.items()),
              flush=True)
    timings = time_audit(rows, args) if args.timing else []
    text = report(results, seconds, timings, len(rows.frame), args)
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")


def report(results: list[dict], seconds: list[dict], timings: list[dict], n_rows: int,
           args) -> str:
    frame = pd.DataFrame(results)
    seeds = f"seeds 0-{len(results) - 1}" if len(results) > 1 else "seed 0"
    lines = [
        "# Audit benchmark: deliberately wrong labels found",
        "",
        f"Made by `python benchmarks/audit.py --seeds {len(results)}"
        f"{'' if args.embeddings else ' --no-embeddings'}` on {date.today().isoformat()}; "
        f"{platform.system()} {platform.machine()}, 2 cores shared with other work (load "
        f"average {os.getloadavg()[0]:.1f} at the end). {n_rows:,} shipped labeled sentences "
        f"(`data/labeled/sentences.csv` + `ungdc.csv`); in each of {len(results)} runs "
        f"({seeds}) {FLIPPED:.0%} of the primary labels are flipped to another class at random; "
        "the figure is the share of the flipped rows among the top "
        f"{TOP:.0%} of the ranking (the most a ranking can find is 100 %). The baseline and the "
        "old audit use 5 folds grouped by document (the shipped `configs/train.yaml`: its "
        "features, weights, seed); the new default uses the audit's own cross-validation "
        "(`audit_out_of_fold`).",
        "",
        f"| ranking | flipped rows in the top 10 % (mean, {seeds}) | min | max |",
        "|---|---:|---:|---:|",
    ]
    for name in frame.columns:
        values = frame[name]
        lines.append(f"| {name} | {values.mean():.1%} | {values.min():.1%} | "
                     f"{values.max():.1%} |")
    lines += ["", "Per seed (seeds 0-1 chose the method; the later ones were not used for "
              "choosing):", "", "| seed | baseline | old audit | new default |",
              "|---:|---:|---:|---:|"]
    columns = [frame.columns[0], next(c for c in frame.columns if c.startswith("old audit")),
               frame.columns[1]]
    for seed, row in frame[columns].iterrows():
        lines.append(f"| {seed} | " + " | ".join(f"{v:.1%}" for v in row) + " |")
    lines += ["", "Seconds per run for each source of out-of-fold probabilities (on all the "
              f"rows, {args.jobs} jobs):", ""]
    for name, value in pd.DataFrame(seconds).mean().items():
        lines.append(f"- {name}: {value:.0f} s")
    if timings:
        lines += ["", "Wall time on 10,000 rows of the shipped data with the default model's "
                  "config (`audit_labels`, what `policy-themes audit` calls, after one warm-up "
                  "run in the same process):", ""]
        lines += [f"- {t['command']}: {t['seconds']:.1f} s" for t in timings]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
