"""Does ``policy-themes suggest`` pick sentences worth labeling? A simulated labeling loop.

Each run starts from a random labeled batch; every round a model is trained on the labels so
far and judged on held-out sentences (macro-F1 of the primary theme), then the next batch is
chosen from the rest of the pool, by each strategy in turn, and its (known) labels added:

- ``random``: a random batch;
- ``margin``: the batch the model is least sure of (smallest margin between its two best
  themes), nothing else;
- ``suggest``: `rank_pool` as the command calls it (``sampled``: the most uncertain, weighted
  towards themes with fewer labels than their share of the pool, of twice the batch drawn at
  random);
- ``suggest before``: the command's ranking before that (``clusters``: uncertainty times the
  inverse square root of the predicted theme's label count, one pick per cluster of similar
  sentences).

The model is the package's pipeline (`build_pipeline`) with a fast
config: word n-grams, rule votes and the context's words and rule votes, no character
n-grams, the primary head only. Data:

- ``protectionism``: ``../shared/bench/manifesto-protectionism`` (pool = train.csv, judged on
  test.csv; the example taxonomy of ``configs/examples``), batches of 100;
- ``ungdc``: ``data/labeled/ungdc.csv``, 5 folds grouped by speech; run ``s`` judges on fold
  ``s`` and pools the other four; batches of 200.

    python benchmarks/active_learning.py --dataset protectionism --seeds 5   # ~4 min on 2 cores
    python benchmarks/active_learning.py --dataset ungdc --seeds 5           # ~5 min
    python benchmarks/active_learning.py --time-model models/default   # suggest on 10,000

Prints Markdown and writes ``benchmarks/results/active_learning.md`` (one section per dataset).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold

from policy_themes.config import load_train_config
from policy_themes.features.context import frame_context
from policy_themes.io.labels import read_labeled
from policy_themes.model.classifier import build_pipeline, make_frame
from policy_themes.rules.taxonomy import load_taxonomy
from policy_themes.workflows.pool_ranking import rank_pool

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "active_learning.md"
BENCH = ROOT.parent / "shared" / "bench" / "manifesto-protectionism"
STRATEGIES = ("random", "margin", "suggest", "suggest before")
STOP = 0.5  # share of the pool the curve goes to


@dataclass
class Task:
    """A pool with known labels and the sentences the models are judged on."""

    name: str
    taxonomy: object
    config: object
    pool: pd.DataFrame
    test: pd.DataFrame
    batch: int


def fast_config(context_columns: tuple[str, ...]):
    """The shipped config with the fast blocks only and no context dropout."""
    config = load_train_config()
    features = {**{name: False for name in config.features}, "word": True, "rules": True,
                "context_words": True, "context_rules": True}
    return replace(config, features=features,
                   context=replace(config.context, columns=context_columns, dropout=0.0))


def protectionism_task() -> Task:
    taxonomy = load_taxonomy(ROOT / "configs" / "examples" / "manifesto-protectionism.yaml")
    config = fast_config(("text_preceding", "text_following"))
    read = {name: read_labeled(BENCH / f"{name}.csv", taxonomy, text_column="text_original",
                               label_column="label_text") for name in ("train", "test")}
    return Task("protectionism", taxonomy, config, read["train"], read["test"], 100)


def ungdc_task(fold: int) -> Task:
    taxonomy = load_taxonomy()
    config = fast_config(("context_before", "context_after"))
    frame = read_labeled(ROOT / "data" / "labeled" / "ungdc.csv", taxonomy)
    primary = [t[0] for t in frame["themes"]]
    splits = list(StratifiedGroupKFold(5, shuffle=True, random_state=0).split(
        frame, primary, frame["doc_id"]))
    pool, test = splits[fold % 5]
    return Task("ungdc", taxonomy, config, frame.iloc[pool].reset_index(drop=True),
                frame.iloc[test].reset_index(drop=True), 200)


def model_inputs(task: Task, frame: pd.DataFrame) -> pd.DataFrame:
    return make_frame(frame["text"].tolist(), frame_context(frame, task.config.context))


def fit(task: Task, inputs: pd.DataFrame, themes) -> object:
    pipeline = build_pipeline(task.config, task.taxonomy).set_params(clf__multilabel=False)
    return pipeline.fit(inputs, [[t[0]] for t in themes])


def macro_f1(pipeline, inputs: pd.DataFrame, frame: pd.DataFrame) -> float:
    gold = [t[0] for t in frame["themes"]]
    return float(f1_score(gold, pipeline.predict(inputs), average="macro",
                          labels=sorted(set(gold))))


def next_batch(strategy: str, pipeline, inputs: pd.DataFrame, rest: np.ndarray, size: int,
               counts: dict, rng: np.random.Generator) -> np.ndarray:
    """The next batch's rows (of ``rest``) by one strategy."""
    if strategy == "random":
        return rng.choice(rest, size, replace=False)
    features = pipeline[:-1].transform(inputs.iloc[rest])
    clf = pipeline.named_steps["clf"]
    proba, classes = clf.predict_proba(features), list(clf.classes_)
    ranking = {"margin": "margin", "suggest": "sampled", "suggest before": "clusters"}[strategy]
    order = rank_pool(proba, features, classes, size, label_counts=counts, ranking=ranking,
                      seed=int(rng.integers(2**31)))
    return rest[order]


def learning_curve(task: Task, strategy: str, seed: int, pool_inputs, test_inputs
                   ) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    n = len(task.pool)
    labeled = list(rng.choice(n, task.batch, replace=False))
    curve = []
    while True:
        themes = task.pool["themes"].iloc[labeled].tolist()
        pipeline = fit(task, pool_inputs.iloc[labeled], themes)
        curve.append((len(labeled), macro_f1(pipeline, test_inputs, task.test)))
        if len(labeled) >= STOP * n:
            return curve
        rest = np.setdiff1d(np.arange(n), labeled)
        counts = pd.Series([t[0] for t in themes]).value_counts().to_dict()
        labeled += next_batch(strategy, pipeline, pool_inputs, rest, min(task.batch, len(rest)),
                              counts, rng).tolist()


def run_dataset(name: str, seeds: int) -> dict:
    """Each strategy's mean curve over the seeds, and the whole pool's macro-F1."""
    curves: dict[str, list] = {s: [] for s in STRATEGIES}
    whole, seconds = [], {s: 0.0 for s in STRATEGIES}
    pool_size = 0
    for seed in range(seeds):
        task = protectionism_task() if name == "protectionism" else ungdc_task(seed)
        pool_inputs, test_inputs = model_inputs(task, task.pool), model_inputs(task, task.test)
        pool_size = len(task.pool)
        full = fit(task, pool_inputs, task.pool["themes"].tolist())
        whole.append(macro_f1(full, test_inputs, task.test))
        for strategy in STRATEGIES:
            start = time.perf_counter()
            curves[strategy].append(learning_curve(task, strategy, seed, pool_inputs,
                                                   test_inputs))
            seconds[strategy] += (time.perf_counter() - start) / seeds
        print(f"{name} seed {seed}: whole pool {whole[-1]:.3f}", flush=True)
    length = min(len(c) for runs in curves.values() for c in runs)  # pools differ a little
    points = [x for x, _ in curves["random"][0][:length]]
    means = {s: np.mean([[y for _, y in c[:length]] for c in curves[s]], axis=0)
             for s in STRATEGIES}
    return {"name": name, "points": points, "means": means, "whole": float(np.mean(whole)),
            "pool": pool_size, "seeds": seeds, "batch": task.batch, "seconds": seconds,
            "per_seed": {s: [[y for _, y in c[:length]] for c in curves[s]] for s in STRATEGIES}}


def reached(result: dict, strategy: str) -> str:
    """Labels at which the strategy first reaches the whole pool's macro-F1 minus 0.02."""
    target = result["whole"] - 0.02
    for x, y in zip(result["points"], result["means"][strategy]):
        if y >= target:
            return f"{x:,} ({x / result['pool']:.0%})"
    return f"not by {result['points'][-1]:,} ({result['points'][-1] / result['pool']:.0%})"


def section(result: dict) -> str:
    points, means = result["points"], result["means"]
    lines = [
        f"## {result['name']}: pool {result['pool']:,} sentences, batches of "
        f"{result['batch']}, mean of {result['seeds']} runs",
        "",
        f"Whole pool (every label): macro-F1 {result['whole']:.3f}; the goal is "
        f"{result['whole'] - 0.02:.3f} with at most 40 % of the pool "
        f"({int(0.4 * result['pool']):,} labels).",
        "",
        "| labels | " + " | ".join(STRATEGIES) + " | suggest − random: mean [runs' min, max] |",
        "|---:|" + "---:|" * len(STRATEGIES) + "---:|",
    ]
    gain = np.array(result["per_seed"]["suggest"]) - np.array(result["per_seed"]["random"])
    for i, x in enumerate(points):
        cells = [f"{means[s][i]:.3f}" for s in STRATEGIES]
        best = max(range(len(cells)), key=lambda j: means[STRATEGIES[j]][i])
        cells[best] = f"**{cells[best]}**"
        cells.append(f"{gain[:, i].mean():+.3f} [{gain[:, i].min():+.3f}, "
                     f"{gain[:, i].max():+.3f}]")
        lines.append(f"| {x:,} ({x / result['pool']:.0%}) | " + " | ".join(cells) + " |")
    beats = [x for i, x in enumerate(points)
             if x >= 200 and means["suggest"][i] <= means["random"][i]]
    lines += ["", "Whole pool minus 0.02 first reached at: " + "; ".join(
        f"{s} {reached(result, s)}" for s in STRATEGIES) + ".",
        "`suggest` above `random` at every point from 200 labels: "
        + ("yes." if not beats else f"no (not at {', '.join(f'{x:,}' for x in beats)})."),
        "Seconds per run (every round's fit, prediction and choice): " + "; ".join(
            f"{s} {v:.0f}" for s, v in result["seconds"].items()) + "."]
    return "\n".join(lines) + "\n"


def time_suggest(model_dir: Path) -> str:
    """Wall time of ``policy-themes suggest`` on 10,000 sentences (a fresh process, as a
    user runs it), the median of 3."""
    labeled = ROOT / "data" / "labeled"
    pool = pd.concat([pd.read_csv(labeled / "ungdc.csv")[["text", "doc_id"]],
                      pd.read_csv(labeled / "sentences.csv")[["text", "doc_id"]]]).head(10_000)
    times = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pool.csv"
        pool.to_csv(path, index=False)
        command = [sys.executable, "-m", "policy_themes", "suggest", str(path), "--model-dir",
                   str(model_dir), "-n", "50", "--out", str(Path(folder) / "next.csv"),
                   "--label-studio", str(Path(folder) / "tasks.json"),
                   "--keep-training-data"]  # the pool is the model's own training sentences
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return (f"`policy-themes suggest` on 10,000 sentences (the shipped sentences without their "
            f"labels, with documents; `--keep-training-data`, as the model was trained on "
            f"them), `-n 50`, CSV and Label Studio files, model "
            f"`{model_dir.name}`, a fresh process each time: {np.median(times):.1f} s "
            f"(median of 3: {', '.join(f'{t:.1f}' for t in times)}).\n")


def main() -> None:
    global STRATEGIES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["protectionism", "ungdc"], action="append")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="Comma-separated strategies (a quick look; results need all).")
    parser.add_argument("--time-model", type=Path, default=None,
                        help="Time suggest on 10,000 sentences with this model directory.")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    STRATEGIES = tuple(args.strategies.split(","))
    sections = {}
    for name in args.dataset or []:
        if name == "protectionism" and not BENCH.exists():
            print(f"{BENCH} is not available: skipping protectionism")
            continue
        sections[name] = section(run_dataset(name, args.seeds))
        print(sections[name], flush=True)
    timing = time_suggest(args.time_model) if args.time_model else None
    if timing:
        print(timing)
    if args.write:
        write_results(sections, timing)


def write_results(sections: dict, timing: str | None) -> None:
    """Replace this run's sections of the results file, keeping the others."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    parts = {p.split("\n", 1)[0].split(":")[0].removeprefix("## "): "## " + p
             for p in old.split("\n## ")[1:]}
    for name, text in sections.items():
        parts[name] = text
    if timing:
        parts["Speed"] = "## Speed\n\n" + timing
    header = ("# Active learning: `suggest` against random picks, simulated\n\n"
              f"Made by `python benchmarks/active_learning.py` (last run "
              f"{date.today().isoformat()}; {platform.system()} {platform.machine()}, 2 cores "
              "shared with other work). Macro-F1 of the primary theme on the held-out "
              "sentences; the model is the package's pipeline with a fast config (word "
              "n-grams, rule votes and the context's, no character n-grams).\n\n")
    order = [k for k in ("protectionism", "ungdc", "Speed") if k in parts]
    order += [k for k in parts if k not in order]  # notes written by hand stay
    RESULTS.write_text(header + "\n".join(parts[k].rstrip() + "\n" for k in order),
                       encoding="utf-8")


if __name__ == "__main__":
    main()
