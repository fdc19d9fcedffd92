"""How long ``policy-themes train`` takes, cross-validation included, and what it measures.

Two cases, each ``policy-themes train`` run as a subprocess into a temporary model directory:

- ``shipped``: the README's first command, the shipped data (6,264 invented + 4,832 real
  sentences) with ``configs/train.yaml`` (context features, grouped CV on the real sentences);
- ``codebook``: a user's codebook of 20,000 sentences without embeddings, built at run time from
  ``/work/shared/bench/cap-nyt/titles.csv`` (a seeded sample of New York Times front-page titles;
  the CAP major-topic codes as themes, the non-policy codes 24-31 and 99 as ``none``) with a
  taxonomy of those themes and no rules, written into a temporary folder; the default training
  config (no document column: no context, stratified 5-fold CV).

Each row gives the wall and CPU seconds of the whole process tree (the command and the worker
processes it waited for), its peak memory (the largest single process), the machine's load
average when the run started (other work on the machine slows every figure), and the
cross-validated accuracy and macro-F1 with their 95 % bootstrap intervals from the model's
``report.json``.

    python benchmarks/training_speed.py                       # both cases, this tree
    python benchmarks/training_speed.py --only codebook --runs 3
    python benchmarks/training_speed.py --src /tmp/other/src  # another tree's package

Prints a Markdown table; the results, before and after, are in
``benchmarks/results/training_speed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CAP_TITLES = Path("/work/shared/bench/cap-nyt/titles.csv")
SAMPLE = 20_000
NON_POLICY = {24, 25, 26, 27, 28, 29, 30, 31, 99}
CAP_NAMES = {
    1: "Macroeconomics", 2: "Civil rights", 3: "Health", 4: "Agriculture", 5: "Labor",
    6: "Education", 7: "Environment", 8: "Energy", 9: "Immigration", 10: "Transportation",
    12: "Law and crime", 13: "Social welfare", 14: "Housing", 15: "Domestic commerce",
    16: "Defense", 17: "Technology", 18: "Foreign trade", 19: "International affairs",
    20: "Government operations", 21: "Public lands", 23: "Culture",
}


def write_codebook(folder: Path, *, sample: int = SAMPLE, seed: int = 0) -> tuple[Path, Path]:
    """Write the 20,000-sentence codebook (``titles.csv``: ``text``, ``theme``) and its
    taxonomy (``taxonomy.yaml``, no rules) into ``folder``; return both paths."""
    titles = pd.read_csv(CAP_TITLES, usecols=["majortopic", "title"]).dropna()
    rows = titles.sample(n=min(sample, len(titles)), random_state=seed)
    codes = rows["majortopic"].astype(int)
    themes = [("none" if code in NON_POLICY else f"cap_{code}") for code in codes]
    table = folder / "titles.csv"
    pd.DataFrame({"text": rows["title"].astype(str), "theme": themes}).to_csv(table, index=False)
    used = sorted({code for code in codes if code not in NON_POLICY})
    taxonomy = {
        "name": "cap-nyt",
        "themes": [{"id": f"cap_{code}", "name": CAP_NAMES.get(code, f"CAP topic {code}"),
                    "description": "", "rules": []} for code in used]
        + [{"id": "none", "name": "No policy topic", "description": ""}],
    }
    path = folder / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(taxonomy, sort_keys=False), encoding="utf-8")
    return table, path


def timed_train(args: list[str], model_dir: Path, src: Path) -> dict:
    """Run ``policy-themes train ARGS --model-dir MODEL_DIR`` with ``src`` first on the path;
    return wall and CPU seconds, peak memory and the CV figures."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "policy_themes", "train", *args, "--model-dir",
               str(model_dir)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    metrics = json.loads((model_dir / "report.json").read_text())["metrics"]
    return {"wall": wall, "load": load,
            "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mb": after.ru_maxrss / 1024, "accuracy": metrics["accuracy"],
            "accuracy_ci": metrics["accuracy_ci"], "macro_f1": metrics["macro_f1"],
            "macro_f1_ci": metrics["macro_f1_ci"], "n": metrics["n"]}


def with_ci(value: float, ci) -> str:
    """``0.620 [0.605, 0.632]``."""
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def case_arguments(case: str, folder: Path) -> list[str]:
    """The ``train`` arguments of a case (the codebook is written into ``folder``)."""
    if case == "shipped":
        return []
    table, taxonomy = write_codebook(folder)
    return [str(table), "--taxonomy", str(taxonomy)]


def run_case(case: str, runs: int, src: Path, jobs: int | None) -> dict:
    """``runs`` timed trainings of one case; medians of the times, the last run's figures."""
    with tempfile.TemporaryDirectory(prefix="training_speed_") as tmp:
        folder = Path(tmp)
        args = case_arguments(case, folder) + ([] if jobs is None else ["--jobs", str(jobs)])
        results = [timed_train(args, folder / f"model{i}", src) for i in range(runs)]
    row = dict(results[-1])
    for key in ("wall", "cpu", "peak_mb", "load"):
        row[key] = statistics.median(r[key] for r in results)
    row["walls"] = [r["wall"] for r in results]
    return row


def markdown(rows: dict, src: Path, runs: int) -> str:
    """The table of every case."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"- package: {src}", f"- runs per case: {runs} (median wall, CPU, memory, load)",
             f"- machine: {os.cpu_count()} cores; {when}",
             "",
             "| case | CV sentences | wall s | CPU s | peak MB | load at start | cv accuracy "
             "| cv macro-F1 |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for case, row in rows.items():
        lines.append(f"| {case} | {row['n']:,} | {row['wall']:.1f} | {row['cpu']:.1f} | "
                     f"{row['peak_mb']:.0f} | {row['load']:.1f} | "
                     f"{with_ci(row['accuracy'], row['accuracy_ci'])} | "
                     f"{with_ci(row['macro_f1'], row['macro_f1_ci'])} |")
    return "\n".join(lines)


def main() -> None:
    """Parse the options, run the cases, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["shipped", "codebook"], action="append")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=None, help="train --jobs [default: all]")
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the package tree to measure [default: this one]")
    options = parser.parse_args()
    cases = options.only or ["shipped", "codebook"]
    if "codebook" in cases and not CAP_TITLES.exists():
        print(f"{CAP_TITLES} is absent: the codebook case is skipped")
        cases = [c for c in cases if c != "codebook"]
    rows = {case: run_case(case, options.runs, options.src.resolve(), options.jobs)
            for case in cases}
    print(markdown(rows, options.src.resolve(), options.runs))


if __name__ == "__main__":
    main()
