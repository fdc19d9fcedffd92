"""The package's remaining pairs of implementations: the reference and the path compiled by Numba,
timed on the same UN General Debate speeches in one process (CPU seconds, median of --repeat).

Each pair is kept only because its fast path buys at least 5 % of a command's wall time; the
whole-command figures (paired ``farm-bench`` runs of ``predict --documents`` with the fast path
switched off) are in ``benchmarks/results/duplicates.md``. This script shows the size of each
step on its own:

- splitting speeches into sentences: :func:`sentence_spans` in Python and compiled;
- the model's features and scores: the scikit-learn pipeline (n-grams hashed with NumPy, SciPy
  sparse products) against the array model (the same hashing and products compiled).

    python benchmarks/duplicates.py --speeches 300 --repeat 3 --model models/default
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path

import pandas as pd

from policy_themes.model.store import load_pipeline
from policy_themes.model.theme_model import ThemeModel, load_model
from policy_themes.text.sentences import sentence_spans

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ungdc_1946_2024.csv.gz"


def cpu_median(function, repeat: int) -> float:
    """Median CPU seconds of ``function()`` over ``repeat`` runs, after one run not counted."""
    function()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return statistics.median(times)


def read_speeches(n: int) -> list[str]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as stream:
        return pd.read_csv(stream, nrows=n)["text"].astype(str).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speeches", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    args = parser.parse_args()
    if not CORPUS.is_file():
        raise SystemExit(f"no corpus at {CORPUS}")
    speeches = read_speeches(args.speeches)
    sentences = [s for text in speeches for _, _, s in sentence_spans(text, compiled=True)]
    pipeline, meta = load_pipeline(args.model)
    reference, fast = ThemeModel(pipeline, meta, args.model), load_model(args.model)
    rows = [
        ("sentence splitting", lambda: [sentence_spans(t) for t in speeches],
         lambda: [sentence_spans(t, compiled=True) for t in speeches]),
        ("features and scores of the default model (no context)",
         lambda: reference.predict_arrays(sentences),
         lambda: fast.predict_arrays(sentences)),
    ]
    print(f"{args.speeches} speeches, {len(sentences):,} sentences; CPU seconds, median of "
          f"{args.repeat}\n")
    print("| step | reference | compiled | reference / compiled |")
    print("|---|---:|---:|---:|")
    for name, slow, quick in rows:
        slow_s, quick_s = cpu_median(slow, args.repeat), cpu_median(quick, args.repeat)
        print(f"| {name} | {slow_s:.2f} | {quick_s:.2f} | {slow_s / quick_s:.1f}x |")


if __name__ == "__main__":
    main()
