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
   ``test.csv``, beside the published results of Laurer et al. (2023); the fast and accurate
   models with their train time and predict rate, beside the same peers.
3. **CAP-NYT major topics** (``../shared/bench/cap-nyt``, see ``cap_nyt.py``): a codebook
   written at run time, 5-fold cross-validation on the same folds for every system (stratified;
   and grouped by date, with the day's other titles as context).

Prints Markdown tables (accuracy, macro-F1 and theme-set micro-F1 with 95 % bootstrap intervals)
and puts them, with the date and the load average, into ``benchmarks/results/accuracy.md`` in
place of the sections of the same name (the others stay).

    pip install ".[bench]"
    python benchmarks/accuracy.py              # everything (hours on 2 cores)
    python benchmarks/accuracy.py --quick      # the default model, rules and peers only
    OMP_NUM_THREADS=1 python benchmarks/accuracy.py --tasks manifesto cap --sample 8000 --jobs 1
    python benchmarks/accuracy.py --tasks cap-settings --sample 8000 \
        --accurate-set features__embeddings__scale=2    # accurate-model settings, CAP folds
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from cap_nyt import CAP_NYT, cap_by_date_task, cap_settings_task, cap_task
from cap_nyt import add_arguments as add_cap_arguments
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from systems import (
    Timed,
    accurate_variants,
    align,
    ci,
    fasttext_fitter,
    fit_and_predict,
    forget_embeddings,
    load_average,
    package_fitter,
    tfidf_fitter,
    timing_cells,
    untuned_logreg_fitter,
)

from policy_themes.config import load_train_config
from policy_themes.evaluation.metrics import compute_metrics
from policy_themes.features.context import frame_context
from policy_themes.io.labels import read_labeled
from policy_themes.rules.labeling import label_sentences
from policy_themes.rules.taxonomy import load_taxonomy
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
             n_jobs: int, n_boot: int, settings: tuple[str, ...] = ()) -> list[dict]:
    """Train each system on ``train`` and score it on ``test``: the package's models (their
    cross-validated macro-F1 on ``train`` too, what ``train`` prints), the rules and the peers.
    ``settings``: accurate models with one ``step__param=value`` changed (their times not
    kept)."""
    classes = taxonomy.ids
    configs = variants(base)
    accurate = configs["accurate model (train --accurate: + sentence embeddings)"]
    systems = [(name, configs[name], True) for name in names]
    systems += [(f"accurate model, `--set {text}`", config, False)
                for text, config in accurate_variants(accurate, list(settings))]
    parts = [_part(frame, base) for frame in (train, test)]
    rows = []
    for name, config, timed in systems:
        if timed and config.uses_embeddings:
            forget_embeddings()  # the test's embeddings are computed and timed like a new run's
        results = []
        got = fit_and_predict(package_fitter(config, taxonomy, n_jobs=n_jobs, results=results),
                              *parts)
        cv = results[0].cv_metrics if results and results[0].cv_metrics else {}
        rows.append(_row(name, test, got, classes, n_boot, cv=cv, timed=timed))
        print(f"  {name}: train {got.fit_seconds:.1f} s ({got.fit_cpu:.1f} CPU), predict "
              f"{got.predict_rate:,.0f}/s ({got.predict_cpu_rate:,.0f}/CPU s), "
              f"test macro-F1 {rows[-1]['metrics']['macro_f1']:.3f}", flush=True)
    start, start_cpu = time.perf_counter(), time.process_time()
    rules = label_sentences(test["text"].tolist(), taxonomy)
    rows.append(_row("rules alone", test, Timed(rules.primary, rules.themes, None, 0.0,
                                                 time.perf_counter() - start, 0.0,
                                                 time.process_time() - start_cpu),
                     classes, n_boot))
    peers = [("TF-IDF + logistic regression (untuned)", untuned_logreg_fitter(classes)),
             ("word+char TF-IDF + logistic regression (untuned)",
              tfidf_fitter(lambda: LogisticRegression(max_iter=1000), classes)),
             ("word+char TF-IDF + linear SVM (untuned)", tfidf_fitter(LinearSVC, classes)),
             ("fastText (wordNgrams 2, 25 epochs)", fasttext_fitter(classes))]
    for name, fitter in peers:
        if fitter is not None:
            rows.append(_row(name, test, fit_and_predict(fitter, *parts), classes, n_boot))
    return rows


def _part(frame: pd.DataFrame, config) -> dict:
    """A labeled frame as a fitter's or predictor's input (its context as ``train`` reads it)."""
    groups = frame["doc_id"].astype(str).tolist() if "doc_id" in frame.columns else None
    return {"texts": frame["text"].tolist(), "themes": frame["themes"].tolist(),
            "context": list(frame_context(frame, config.context)), "groups": groups}


def _row(name, test, got: Timed, classes, n_boot, *, cv=None, timed=True) -> dict:
    metrics = compute_metrics(test["themes"].tolist(), got.primary, got.sets, got.proba, classes,
                              n_boot=n_boot, seed=0)
    return {"system": name, "metrics": metrics, "cv": cv or {}, "seconds": got.fit_seconds,
            "rate": got.predict_rate, "timed": timed, "cost": timing_cells(
                got.fit_seconds, got.fit_cpu, got.predict_rate, got.predict_cpu_rate)}


def markdown_table(rows: list[dict], published=()) -> str:
    out = ["| system | accuracy [95 % CI] | macro-F1 [95 % CI] | theme-set micro-F1 [95 % CI] "
           "| train CV macro-F1 | train s, wall (CPU) | predict sentences/s, wall (per CPU s) |",
           "|---|---|---|---|---|---|---|"]
    for row in rows:
        m = row["metrics"]
        cost = row["cost"] if row.get("timed", True) else "– | –"
        out.append(f"| {row['system']} | {ci(m, 'accuracy')} | {ci(m, 'macro_f1')} | "
                   f"{ci(m, 'set_micro_f1')} | {ci(row.get('cv') or {}, 'macro_f1')} | "
                   f"{cost} |")
    for name, accuracy, macro in published:
        out.append(f"| {name} | {accuracy:.3f} | {macro:.3f} | – | – | – | – |")
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
        proba[test_rows] = align(model.predict_proba(real["text"].iloc[test_rows]),
                                  list(model.classes_), classes)
    figures = {"cv": _proba_metrics(real, proba, classes, n_boot)}
    dev = read_labeled(REAL_DEV, taxonomy)
    model = fit(np.arange(len(real)))
    figures["dev"] = _proba_metrics(dev, align(model.predict_proba(dev["text"]),
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
        cells = [(ci(cv, k) if cv else "–") for k in ("accuracy", "macro_f1", "set_micro_f1")]
        cells += [ci(dev, k) for k in ("accuracy", "macro_f1", "set_micro_f1")]
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
        out.append(f"| {label} | {ci(cv.metrics, 'accuracy')} | {ci(cv.metrics, 'macro_f1')} "
                   f"| {ci(scored, 'accuracy')} | {ci(scored, 'macro_f1')} |")
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
    load_before = load_average()
    rows = run_task(train, test, taxonomy, base, names, n_jobs=args.jobs, n_boot=args.bootstrap,
                    settings=tuple(args.accurate_set))
    return (f"## Manifesto protectionism: test.csv ({len(test):,} quasi-sentences, 3 classes); "
            f"trained on train.csv ({len(train):,}) with configs/examples/\n\n"
            f"Made by `python benchmarks/accuracy.py --tasks manifesto{_set_args(args)}` on "
            f"{date.today().isoformat()}, {args.jobs} job(s), `OMP_NUM_THREADS="
            f"{os.environ.get('OMP_NUM_THREADS', 'unset')}`; load average {load_before} at the "
            f"start, {load_average()} at the end (2 cores shared). *train CV macro-F1* is what "
            "`policy-themes train` prints: 5-fold CV on train.csv grouped by document (the "
            "figure settings may be chosen by; test.csv never is). *train s* is the whole "
            "`train` (CV and final fit); *predict* is test.csv through the fitted pipeline, "
            "features included, embeddings not cached. Rows with – reuse cached embeddings.\n\n"
            f"{markdown_table(rows, PUBLISHED_MANIFESTO)}\n")


def _set_args(args) -> str:
    return " --accurate-set " + " ".join(args.accurate_set) if args.accurate_set else ""


TASKS = {"real": (lambda: REAL_DEV.exists(), real_text_task),
         "manifesto": (lambda: MANIFESTO.exists(), manifesto_task),
         "cap": (lambda: CAP_NYT.exists(), cap_task),
         "cap-by-date": (lambda: CAP_NYT.exists(), cap_by_date_task),
         "cap-settings": (lambda: CAP_NYT.exists(), cap_settings_task)}


def splice(old: str, sections: list[str]) -> str:
    """The results file ``old`` with each of ``sections`` in place of the section of the same
    name (its heading up to the first colon); a new one goes after the last replaced one. The
    sections not run this time, and hand-written ones, stay as they were."""
    parts = re.split(r"(?m)^(?=## )", old)
    header, kept = parts[0], parts[1:]
    names = [_section_name(part) for part in kept]
    insert_at = len(kept)
    for section in sections:
        name = _section_name(section)
        if name in names:
            insert_at = names.index(name) + 1
            kept[insert_at - 1] = section.rstrip("\n") + "\n\n"
        else:
            kept.insert(insert_at, section.rstrip("\n") + "\n\n")
            names.insert(insert_at, name)
            insert_at += 1
    return (header + "".join(kept)).rstrip("\n") + "\n"


def _section_name(section: str) -> str:
    return section.splitlines()[0].removeprefix("## ").split(":")[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=None,
                        help="the tasks to run (default: every one whose data is there)")
    parser.add_argument("--quick", action="store_true", help="default models and peers only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    add_cap_arguments(parser)
    args = parser.parse_args()
    chosen = args.tasks or [name for name, (available, _) in TASKS.items() if available()
                            and (name != "cap-settings" or args.accurate_set)]
    missing = [name for name in chosen if not TASKS[name][0]()]
    if missing or not chosen:
        raise SystemExit(f"{SHARED} does not hold the data of: {', '.join(missing) or 'any'}")
    sections = [TASKS[name][1](args) for name in chosen]
    print("\n".join(sections))
    if not args.no_write:
        old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else (
            f"# Accuracy benchmark\n\nMade by `python benchmarks/accuracy.py` on "
            f"{date.today().isoformat()}; {machine()}.\n\n")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(splice(old, sections), encoding="utf-8")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
