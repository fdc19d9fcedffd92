"""What do suggested rules add? ``rules suggest`` kept as it is, against no rules at all.

The package's model (its default pipeline: word and character n-grams, the rules' votes, the
context) is trained with a taxonomy without rules and with the rules that
:func:`policy_themes.workflows.rule_suggestions.suggest_rules` proposes from the training sentences
(default settings, nothing edited), and each model's primary theme is scored by macro-F1.
Beside them, for reference, the hand-written rules and those with suggestions added.

1. **Manifesto protectionism** (``../shared/bench/manifesto-protectionism``, read at run time,
   never copied): rules suggested from ``train.csv``, models trained on it with the example
   config of ``configs/examples/manifesto-train.yaml``, scored on ``test.csv``. Then the
   same with 300 training sentences drawn at random (several draws): the few-hundred-labels
   case of a new codebook.
2. **Real UN General Debate sentences** (``data/labeled/ungdc.csv``): 5-fold cross-validation
   grouped by speech (``doc_id``); in each fold the rules are suggested from the fold's
   training part only, and the model trained on it with ``configs/train.yaml`` is scored on
   the held-out speeches (pooled out-of-fold predictions).

Intervals: 95 % bootstrap of macro-F1, and a *paired* bootstrap of each difference to no rules
(the same resampled rows, or speeches for the grouped CV, for both systems). Thresholds do not
change the primary theme, so no inner cross-validation is run (``cv.folds: 0``).

    python benchmarks/suggested_rules.py             # both tasks (29 min on 2 busy cores)
    python benchmarks/suggested_rules.py --quick     # fewer draws and resamples
    python benchmarks/suggested_rules.py --only ungdc
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold

from policy_themes.config import load_train_config
from policy_themes.features.context import frame_context
from policy_themes.io.labels import read_labeled
from policy_themes.model.classifier import make_frame
from policy_themes.rules.labeling import label_sentences
from policy_themes.rules.taxonomy import Taxonomy, load_taxonomy
from policy_themes.workflows.rule_suggestions import suggest_rules
from policy_themes.workflows.training import train_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MANIFESTO = SHARED / "bench" / "manifesto-protectionism"
EXAMPLES = ROOT / "configs" / "examples"
UNGDC = ROOT / "data" / "labeled" / "ungdc.csv"
RESULTS = ROOT / "benchmarks" / "results" / "suggested_rules.md"

SYSTEMS = ["no rules", "suggested rules", "hand-written rules", "hand-written + suggested"]


def without_rules(taxonomy: Taxonomy) -> Taxonomy:
    """The taxonomy's themes with no rules."""
    return replace(taxonomy, themes=tuple(replace(t, rules=()) for t in taxonomy.themes))


def taxonomies(train: pd.DataFrame, hand: Taxonomy) -> tuple[dict[str, Taxonomy], dict]:
    """The four taxonomies of a training set, and how many patterns were suggested."""
    texts, themes = train["text"].tolist(), train["themes"].tolist()
    bare = without_rules(hand)
    on_bare = suggest_rules(texts, themes, bare)
    on_hand = suggest_rules(texts, themes, hand)
    found = {"suggested rules": len(on_bare.table), "hand-written + suggested": len(on_hand.table)}
    return {"no rules": bare, "suggested rules": on_bare.with_rules(),
            "hand-written rules": hand, "hand-written + suggested": on_hand.with_rules()}, found


def fit_predict(train: pd.DataFrame, test: pd.DataFrame, taxonomy: Taxonomy, config,
                n_jobs: int) -> list[str]:
    """Train the package's model on ``train`` and return its primary theme for ``test``."""
    groups = train["doc_id"].astype(str).tolist() if "doc_id" in train.columns else None
    result = train_model(train["text"].tolist(), train["themes"].tolist(), config=config,
                         taxonomy=taxonomy, groups=groups,
                         context=frame_context(train, config.context), n_jobs=n_jobs)
    context = frame_context(test, config.context) if result.config.uses_context else None
    features = result.pipeline[:-1].transform(make_frame(test["text"].tolist(), context))
    primary, _, _, _ = result.pipeline[-1].predict_themes(features)
    return list(primary)


def macro_f1(gold: np.ndarray, predicted: np.ndarray, labels: list[str]) -> float:
    return float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))


def bootstrap(gold, predictions: dict[str, list[str]], *, groups=None, n_boot: int,
              seed: int = 0) -> dict[str, dict]:
    """Macro-F1 of each system with its 95 % interval, and each one's paired difference to
    ``no rules``; resampling rows, or whole groups (speeches) when ``groups`` is given."""
    gold = np.asarray(gold, dtype=object)
    labels = sorted(set(gold))
    preds = {k: np.asarray(v, dtype=object) for k, v in predictions.items()}
    units = np.arange(len(gold)) if groups is None else pd.factorize(np.asarray(groups))[0]
    members = pd.Series(np.arange(len(gold))).groupby(units).apply(np.array).tolist()
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in preds}
    for _ in range(n_boot):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        for name, pred in preds.items():
            draws[name].append(macro_f1(gold[rows], pred[rows], labels))
    base = np.array(draws["no rules"])
    out = {}
    for name, pred in preds.items():
        values = np.array(draws[name])
        out[name] = {"macro_f1": macro_f1(gold, pred, labels),
                     "ci": tuple(np.percentile(values, [2.5, 97.5])),
                     "diff": macro_f1(gold, pred, labels) - macro_f1(gold, preds["no rules"],
                                                                    labels),
                     "diff_ci": tuple(np.percentile(values - base, [2.5, 97.5])),
                     "accuracy": float(np.mean(gold == pred))}
    return out


def rules_alone(test: pd.DataFrame, taxonomy: Taxonomy) -> float:
    """Macro-F1 of the rules' own primary theme (``none`` where no rule fires)."""
    gold = np.array([t[0] for t in test["themes"]], dtype=object)
    primary = np.array(label_sentences(test["text"].tolist(), taxonomy).primary, dtype=object)
    return macro_f1(gold, primary, sorted(set(gold)))


def table(scores: dict[str, dict], extra: dict[str, str] | None = None) -> str:
    lines = ["| system | patterns | macro-F1 [95 % CI] | vs no rules [paired 95 % CI] | "
             "accuracy |", "|---|---:|---|---|---:|"]
    for name, s in scores.items():
        diff = "—" if name == "no rules" else \
            f"{s['diff']:+.3f} [{s['diff_ci'][0]:+.3f}, {s['diff_ci'][1]:+.3f}]"
        lines.append(f"| {name} | {(extra or {}).get(name, '')} | {s['macro_f1']:.3f} "
                     f"[{s['ci'][0]:.3f}, {s['ci'][1]:.3f}] | {diff} | {s['accuracy']:.3f} |")
    return "\n".join(lines)


# --- Manifesto ---------------------------------------------------------------------------------

def manifesto_task(args) -> str:
    hand = load_taxonomy(EXAMPLES / "manifesto-protectionism.yaml")
    read = {"text_column": "text_original", "label_column": "label_text"}
    train = read_labeled(MANIFESTO / "train.csv", hand, **read)
    test = read_labeled(MANIFESTO / "test.csv", hand, **read)
    config = load_train_config(EXAMPLES / "manifesto-train.yaml").with_overrides(folds=0)
    gold = [t[0] for t in test["themes"]]
    start = time.perf_counter()
    sets, found = taxonomies(train, hand)
    predictions = {name: fit_predict(train, test, sets[name], config, args.jobs)
                   for name in SYSTEMS}
    scores = bootstrap(gold, predictions, n_boot=args.bootstrap)
    patterns = {name: f"{found[name]} suggested" if name in found else "" for name in SYSTEMS}
    patterns["hand-written rules"] = f"{sum(len(r.patterns) for r in hand.rules)} by hand"
    alone = {name: rules_alone(test, sets[name]) for name in SYSTEMS if name != "no rules"}
    text = [f"## Manifesto protectionism: trained on train.csv ({len(train):,}), scored on "
            f"test.csv ({len(test):,} quasi-sentences, 91 % Other)\n",
            table(scores, patterns), "",
            "The rules alone on test.csv (their primary theme, `none` where none fires), "
            "macro-F1: " + ", ".join(f"{k} {v:.3f}" for k, v in alone.items()) + ".", "",
            few_labels(train, test, hand, config, args), "",
            f"({time.perf_counter() - start:.0f} s)"]
    return "\n".join(text)


def few_labels(train, test, hand, config, args) -> str:
    """No rules against suggested rules, trained on 300 sentences drawn at random."""
    gold = [t[0] for t in test["themes"]]
    labels = sorted(set(gold))
    rows = []
    for draw in range(args.draws):
        sample = train.sample(n=300, random_state=draw).reset_index(drop=True)
        bare = without_rules(hand)
        suggested = suggest_rules(sample["text"].tolist(), sample["themes"].tolist(), bare)
        scores = {}
        for name, taxonomy in (("no rules", bare), ("suggested rules", suggested.with_rules())):
            scores[name] = macro_f1(np.array(gold, dtype=object),
                                    np.array(fit_predict(sample, test, taxonomy, config,
                                                         args.jobs), dtype=object), labels)
        rows.append((draw, len(suggested.table), scores["no rules"], scores["suggested rules"]))
    diffs = np.array([r[3] - r[2] for r in rows])
    low, high = _mean_interval(diffs)
    lines = [f"### 300 training sentences drawn at random ({args.draws} draws), test.csv\n",
             "| draw | patterns suggested | no rules | suggested rules | difference |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {d} | {n} | {a:.3f} | {b:.3f} | {b - a:+.3f} |" for d, n, a, b in rows]
    lines.append(f"| mean [95 % t-interval of the difference] | | "
                 f"{np.mean([r[2] for r in rows]):.3f} | {np.mean([r[3] for r in rows]):.3f} | "
                 f"{diffs.mean():+.3f} [{low:+.3f}, {high:+.3f}] |")
    return "\n".join(lines)


def _mean_interval(values: np.ndarray) -> tuple[float, float]:
    """95 % t-interval of the mean of a few draws."""
    from scipy import stats

    if len(values) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


# --- UN General Debate, grouped CV -------------------------------------------------------------

def ungdc_task(args) -> str:
    hand = load_taxonomy()
    data = read_labeled(UNGDC, hand)
    config = load_train_config(None).with_overrides(folds=0)
    primary = [t[0] for t in data["themes"]]
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    predictions = {name: np.empty(len(data), dtype=object) for name in SYSTEMS}
    alone = {name: np.empty(len(data), dtype=object) for name in SYSTEMS[1:]}
    found = {name: [] for name in SYSTEMS}
    start = time.perf_counter()
    for train_rows, test_rows in folds.split(data, primary, groups=data["doc_id"]):
        train = data.iloc[train_rows].reset_index(drop=True)
        test = data.iloc[test_rows].reset_index(drop=True)
        sets, counts = taxonomies(train, hand)  # suggested from the fold's training part only
        for name in SYSTEMS:
            predictions[name][test_rows] = fit_predict(train, test, sets[name], config,
                                                       args.jobs)
            found[name].append(counts.get(name))
            if name in alone:
                alone[name][test_rows] = label_sentences(test["text"].tolist(),
                                                         sets[name]).primary
    scores = bootstrap(primary, {k: v.tolist() for k, v in predictions.items()},
                       groups=data["doc_id"].tolist(), n_boot=args.bootstrap)
    patterns = {name: (f"{np.mean(found[name]):.0f} suggested per fold"
                       if found[name][0] is not None else "") for name in SYSTEMS}
    patterns["hand-written rules"] = f"{sum(len(r.patterns) for r in hand.rules)} by hand"
    return (f"## Real UN General Debate sentences: 5-fold CV grouped by speech "
            f"({len(data):,} sentences, {data['doc_id'].nunique()} speeches, "
            f"{len(hand.theme_ids)} themes + none)\n\n"
            "Rules suggested inside each fold from its training part only; the model is "
            "configs/train.yaml on ungdc.csv alone (the invented sentences left out); speeches "
            "resampled for the intervals.\n\n"
            f"{table(scores, patterns)}\n\n"
            "The rules alone on the held-out speeches (their primary theme, `none` where none "
            "fires), macro-F1: " + ", ".join(
                f"{k} {macro_f1(np.array(primary, dtype=object), v, sorted(set(primary))):.3f}"
                for k, v in alone.items()) + f".\n\n({time.perf_counter() - start:.0f} s)")


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 draws, 200 resamples")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--only", choices=["manifesto", "ungdc"])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.quick:
        args.draws, args.bootstrap = 2, 200
    sections = []
    if args.only != "ungdc":
        if MANIFESTO.exists():
            sections.append(manifesto_task(args))
        else:
            print(f"{MANIFESTO} is not available: Manifesto task skipped")
    if args.only != "manifesto":
        sections.append(ungdc_task(args))
    text = (f"# Suggested rules: what they add over no rules\n\nMade by `python "
            f"benchmarks/suggested_rules.py` on {date.today().isoformat()}; {machine()}. "
            "Suggestions with the default settings (5 patterns per theme at most, precision "
            "≥ 0.7 and ≥ 3 matching sentences on the training data), kept without editing.\n\n"
            + "\n\n".join(sections) + "\n")
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
