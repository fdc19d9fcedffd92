"""How right is policy-themes on real text? One run, real tasks, beside simple peers.

1. **Real foreign-policy text.** Every system learns from the shipped data: the invented
   sentences of ``data/labeled/sentences.csv`` and the real UN General Debate sentences of
   ``data/labeled/ungdc.csv``. Two figures each:

   - *grouped CV*: 5-fold cross-validation grouped by speech on the real sentences (the
     invented ones always trained on), what ``policy-themes train`` reports and what the
     settings were chosen by;
   - *real-dev*: the model trained on everything, scored on the real sentences of
     ``../shared/eval/real-dev.csv`` (never trained on, never tuned on), as ``policy-themes
     evaluate`` scores it.

   Then a learning curve: both figures with 0, 500, 1,000, 2,000 and all real sentences added.
2. **Manifesto protectionism** (``../shared/bench/manifesto-protectionism``): trained on
   ``train.csv`` with the example taxonomy and config of ``configs/examples/``, scored on
   ``test.csv``, beside the published results of Laurer et al. (2023).

Prints Markdown tables (accuracy, macro-F1 and theme-set micro-F1 with 95 % bootstrap intervals)
and writes them, with the date and the machine, to ``benchmarks/results/accuracy.md``.

    pip install ".[bench]"
    python benchmarks/accuracy.py              # everything (about an hour on 2 cores)
    python benchmarks/accuracy.py --quick      # the default model, rules and peers only
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from policy_themes.config import load_train_config
from policy_themes.evaluation.metrics import compute_metrics
from policy_themes.features.context import frame_context
from policy_themes.io.labels import read_labeled
from policy_themes.model.classifier import make_frame
from policy_themes.rules.labeling import label_sentences
from policy_themes.rules.taxonomy import load_taxonomy
from policy_themes.workflows.training import train_model
from policy_themes.workflows.training_data import INVENTED_DATA

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REAL_DEV = SHARED / "eval" / "real-dev.csv"
UNGDC = ROOT / "data" / "labeled" / "ungdc.csv"
MANIFESTO = SHARED / "bench" / "manifesto-protectionism"
EXAMPLES = ROOT / "configs" / "examples"
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.md"

PUBLISHED_MANIFESTO = [  # Laurer et al. (2023), test set, mean of 3 seeds
    ("TF-IDF + logistic regression (published)", 0.891, 0.626),
    ("TF-IDF + SVM (published)", 0.919, 0.672),
    ("DeBERTa-v3-base fine-tuned (published)", 0.886, 0.675),
    ("DeBERTa-v3 NLI fine-tuned (published)", 0.918, 0.737),
]


def variants(base) -> dict:
    """Named variants of a config: what each lever is worth (the finer settings are compared
    by ``benchmarks/real_cv.py``)."""
    return {
        "default model": base,
        "accurate model (train --accurate: + sentence embeddings)": base.with_embeddings(),
        "without context features": base.without_context(),
        "without rule features": replace(base, features={**base.features, "rules": False,
                                                         "context_rules": False}),
    }


def run_task(train: pd.DataFrame, test: pd.DataFrame, taxonomy, base, names: list[str], *,
             n_jobs: int, n_boot: int) -> list[dict]:
    """Train each system on ``train`` and score it on ``test``."""
    gold = test["themes"].tolist()
    texts = test["text"].tolist()
    classes = taxonomy.ids
    configs = variants(base)
    groups = train["doc_id"].astype(str).tolist() if "doc_id" in train.columns else None
    rows = []
    for name in names:
        config = configs[name]
        start = time.perf_counter()
        result = train_model(train["text"].tolist(), train["themes"].tolist(), config=config,
                             taxonomy=taxonomy, groups=groups,
                             context=frame_context(train, config.context), n_jobs=n_jobs)
        seconds = time.perf_counter() - start
        context = frame_context(test, config.context) if result.config.uses_context else None
        features = result.pipeline[:-1].transform(make_frame(texts, context))
        primary, sets, proba, _ = result.pipeline[-1].predict_themes(features)
        rows.append(_row(name, gold, primary, sets, proba, classes, seconds, n_boot))
    start = time.perf_counter()
    rules = label_sentences(texts, taxonomy)
    rows.append(_row("rules alone", gold, rules.primary, rules.themes, None, classes,
                     time.perf_counter() - start, n_boot))
    rows.append(_untuned_logreg(train, texts, gold, classes, n_boot))
    fasttext_row = _fasttext(train, texts, gold, classes, n_boot)
    if fasttext_row is not None:
        rows.append(fasttext_row)
    return rows


def _row(name, gold, primary, sets, proba, classes, seconds, n_boot) -> dict:
    metrics = compute_metrics(gold, primary, sets, proba, classes, n_boot=n_boot, seed=0)
    return {"system": name, "metrics": metrics, "seconds": seconds}


def _untuned_logreg(train, texts, gold, classes, n_boot) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    start = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    model.fit(train["text"], [t[0] for t in train["themes"]])
    seconds = time.perf_counter() - start
    proba = _align(model.predict_proba(texts), list(model.classes_), classes)
    primary = list(model.predict(texts))
    return _row("TF-IDF + logistic regression (untuned)", gold, primary, [[p] for p in primary],
                proba, classes, seconds, n_boot)


def _fasttext(train, texts, gold, classes, n_boot) -> dict | None:
    try:
        import fasttext
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        lines = [f"__label__{t[0]} {_one_line(x)}" for x, t in zip(train["text"], train["themes"])]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        start = time.perf_counter()
        model = fasttext.train_supervised(str(path), epoch=25, lr=0.5, wordNgrams=2, dim=50,
                                          minCount=1, thread=1, seed=0, verbose=0)
        seconds = time.perf_counter() - start
    proba = np.zeros((len(texts), len(classes)))
    for i, text in enumerate(texts):
        # model.predict returns broken probabilities with NumPy 2; the C++ binding does not
        for prob, label in model.f.predict(_one_line(text), -1, 0.0, "strict"):
            proba[i, classes.index(label.replace("__label__", ""))] = prob
    proba /= proba.sum(axis=1, keepdims=True)
    primary = [classes[j] for j in proba.argmax(axis=1)]
    return _row("fastText (wordNgrams 2, 25 epochs)", gold, primary, [[p] for p in primary],
                proba, classes, seconds, n_boot)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _align(proba: np.ndarray, have: list[str], classes: list[str]) -> np.ndarray:
    out = np.zeros((proba.shape[0], len(classes)))
    for j, c in enumerate(have):
        out[:, classes.index(c)] = proba[:, j]
    return out


def _ci(metrics: dict, key: str) -> str:
    value, interval = metrics.get(key), metrics.get(f"{key}_ci")
    if value is None or value != value:
        return "–"
    if not interval or interval[0] is None or interval[0] != interval[0]:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def markdown_table(rows: list[dict], published=()) -> str:
    out = ["| system | accuracy [95 % CI] | macro-F1 [95 % CI] | theme-set micro-F1 [95 % CI] "
           "| train s |", "|---|---|---|---|---|"]
    for row in rows:
        m = row["metrics"]
        out.append(f"| {row['system']} | {_ci(m, 'accuracy')} | {_ci(m, 'macro_f1')} | "
                   f"{_ci(m, 'set_micro_f1')} | {row['seconds']:.1f} |")
    for name, accuracy, macro in published:
        out.append(f"| {name} | {accuracy:.3f} | {macro:.3f} | – | – |")
    return "\n".join(out)


def machine() -> str:
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, scikit-learn {sklearn.__version__}")


def real_text_task(args) -> str:
    """The default model and its variants: grouped CV on the real sentences, and real-dev."""
    from policy_themes.model.theme_model import load_model
    from policy_themes.workflows.evaluate import evaluate
    from policy_themes.workflows.training import train

    taxonomy = load_taxonomy()
    base = load_train_config()
    real = read_labeled(UNGDC, taxonomy)
    names = ["default model"] if args.quick else list(variants(base))
    rows = []
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = train(config=variants(base)[name], model_dir=Path(tmp) / "model",
                           n_jobs=args.jobs)
            seconds = time.perf_counter() - start
            dev = evaluate(load_model(Path(tmp) / "model"), REAL_DEV, n_boot=args.bootstrap)
        rows.append({"system": name, "cv": result.cv_metrics, "dev": dev.metrics,
                     "seconds": seconds})
        print(f"  {name}: {seconds:.0f} s", flush=True)
    rows.append(_rules_row(real, read_labeled(REAL_DEV, taxonomy), taxonomy, args.bootstrap))
    rows.append(_untuned_peer(base, taxonomy, real, args.bootstrap))
    text = (f"## Real foreign-policy text: grouped CV on {len(real):,} real UN General Debate "
            f"sentences ({real['doc_id'].nunique():,} speeches), and real-dev (231 sentences, "
            "never tuned on)\n\n" + two_figure_table(rows) + "\n")
    if not args.quick:
        text += "\n" + learning_curve(base, taxonomy, args) + "\n"
    return text


def _rules_row(real, dev, taxonomy, n_boot) -> dict:
    figures = {}
    for key, frame in (("cv", real), ("dev", dev)):
        rules = label_sentences(frame["text"].tolist(), taxonomy)
        figures[key] = compute_metrics(frame["themes"].tolist(), rules.primary, rules.themes,
                                       None, taxonomy.ids, n_boot=n_boot, seed=0)
    return {"system": "rules alone (no training)", **figures, "seconds": 0.0}


def _untuned_peer(base, taxonomy, real, n_boot) -> dict:
    """TF-IDF + logistic regression, untuned: grouped CV by speech, and real-dev."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline

    invented = read_labeled(INVENTED_DATA, taxonomy)
    classes = taxonomy.ids
    primary = np.array([t[0] for t in real["themes"]], dtype=object)
    proba = np.zeros((len(real), len(classes)))
    start = time.perf_counter()
    splitter = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)

    def fit(rows):
        texts = pd.concat([invented["text"], real["text"].iloc[rows]])
        labels = [t[0] for t in invented["themes"]] + list(primary[rows])
        return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(
            texts, labels)

    for train_rows, test_rows in splitter.split(real, primary, real["doc_id"]):
        model = fit(train_rows)
        proba[test_rows] = _align(model.predict_proba(real["text"].iloc[test_rows]),
                                  list(model.classes_), classes)
    figures = {"cv": _proba_metrics(real, proba, classes, n_boot)}
    dev = read_labeled(REAL_DEV, taxonomy)
    model = fit(np.arange(len(real)))
    figures["dev"] = _proba_metrics(dev, _align(model.predict_proba(dev["text"]),
                                                list(model.classes_), classes), classes, n_boot)
    return {"system": "TF-IDF + logistic regression (untuned)", **figures,
            "seconds": time.perf_counter() - start}


def _proba_metrics(frame, proba, classes, n_boot) -> dict:
    chosen = [classes[j] for j in proba.argmax(axis=1)]
    return compute_metrics(frame["themes"].tolist(), chosen, [[p] for p in chosen], proba,
                           classes, n_boot=n_boot, seed=0)


def two_figure_table(rows: list[dict]) -> str:
    out = ["| system | grouped CV accuracy | grouped CV macro-F1 | grouped CV theme-set "
           "micro-F1 | real-dev accuracy | real-dev macro-F1 | real-dev theme-set micro-F1 | "
           "train s |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cv, dev = row["cv"] or {}, row["dev"]
        cells = [(_ci(cv, k) if cv else "–") for k in ("accuracy", "macro_f1", "set_micro_f1")]
        cells += [_ci(dev, k) for k in ("accuracy", "macro_f1", "set_micro_f1")]
        out.append(f"| {row['system']} | " + " | ".join(cells) + f" | {row['seconds']:.0f} |")
    return "\n".join(out)


def learning_curve(base, taxonomy, args) -> str:
    """Grouped CV and real-dev with 0, 500, 1,000, 2,000 and all real sentences added."""
    from real_cv import fit_and_score, grouped_cv, load_corpus

    corpus = load_corpus(base, taxonomy)
    dev = read_labeled(REAL_DEV, taxonomy)
    weight = base.data.weights.get("ungdc", 1.0)
    out = ["| real sentences added | grouped CV accuracy | grouped CV macro-F1 | real-dev "
           "accuracy | real-dev macro-F1 |", "|---|---|---|---|---|"]
    for n_real in (0, 500, 1000, 2000, None):
        cv = grouped_cv(base, taxonomy, corpus, weight=weight, n_real=n_real, n_jobs=args.jobs,
                        n_boot=args.bootstrap)
        scored = fit_and_score(base, taxonomy, corpus, dev, weight=weight, n_real=n_real,
                               thresholds=cv.thresholds, n_boot=args.bootstrap)
        label = "all" if n_real is None else f"{n_real:,}"
        out.append(f"| {label} | {_ci(cv.metrics, 'accuracy')} | {_ci(cv.metrics, 'macro_f1')} "
                   f"| {_ci(scored, 'accuracy')} | {_ci(scored, 'macro_f1')} |")
        print(out[-1], flush=True)
    return ("### Learning curve: real sentences added to the invented ones (each fold's share "
            "of them, at random)\n\n" + "\n".join(out))


def manifesto_task(args) -> str:
    taxonomy = load_taxonomy(EXAMPLES / "manifesto-protectionism.yaml")
    read = {"text_column": "text_original", "label_column": "label_text"}
    train = read_labeled(MANIFESTO / "train.csv", taxonomy, **read)
    test = read_labeled(MANIFESTO / "test.csv", taxonomy, **read)
    base = load_train_config(EXAMPLES / "manifesto-train.yaml")
    names = ["default model"] if args.quick else [
        "default model", "accurate model (train --accurate: + sentence embeddings)",
        "without context features"]
    rows = run_task(train, test, taxonomy, base, names, n_jobs=args.jobs, n_boot=args.bootstrap)
    return (f"## Manifesto protectionism: test.csv ({len(test):,} quasi-sentences, 3 classes); "
            f"trained on train.csv ({len(train):,}) with configs/examples/\n\n"
            f"{markdown_table(rows, PUBLISHED_MANIFESTO)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default models and peers only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    sections = []
    if REAL_DEV.exists():
        sections.append(real_text_task(args))
    if MANIFESTO.exists():
        sections.append(manifesto_task(args))
    if not sections:
        raise SystemExit(f"{SHARED} is not available: nothing to measure")
    text = (f"# Accuracy benchmark\n\nMade by `python benchmarks/accuracy.py` on "
            f"{date.today().isoformat()}; {machine()}.\n\n" + "\n".join(sections))
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
