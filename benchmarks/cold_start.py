"""The first ``predict`` after installing: Numba compiles the kernels once, then caches them.

Runs ``predict "one sentence"`` as a user would, each time with an empty Numba cache (a fresh
``NUMBA_CACHE_DIR``: the first run after installing) and then with that cache filled (every
later run), measured as in ``throughput.py`` (wall time, CPU seconds of the process tree).
The note ``predict`` prints on a cold cache states the cold run's time from here.

    python benchmarks/cold_start.py --model models/default --repeats 3

Prints one Markdown table and writes it, with the date, the machine and its load, to
``benchmarks/results/cold_start.md`` (``--results`` to change).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import Measure, machine, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.md"
CLI = [sys.executable, "-m", "policy_themes"]  # this checkout's package
SENTENCE = "The two ministers discussed the new gas pipeline."


def measure(model: Path, repeats: int) -> tuple[list[Measure], list[Measure]]:
    """Cold runs (each with an empty Numba cache) and warm runs (the cache each cold run
    filled), taken in turn."""
    cold, warm = [], []
    command = [*CLI, "predict", "-m", str(model), SENTENCE]
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            os.environ["NUMBA_CACHE_DIR"] = cache
            cold.append(run(command))
            warm.append(run(command))
    os.environ.pop("NUMBA_CACHE_DIR", None)
    return cold, warm


def render(rows: list[tuple[str, list[Measure]]]) -> str:
    lines = ["| run | wall s (median) | wall s (range) | CPU s (median) | peak memory MB | exit |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, runs in rows:
        walls = [m.wall for m in runs]
        lines.append(f"| {name} | {statistics.median(walls):.1f} | {min(walls):.1f}–"
                     f"{max(walls):.1f} | {statistics.median(m.cpu for m in runs):.1f} | "
                     f"{max(m.peak_mb for m in runs):,.0f} | "
                     f"{max(m.returncode for m in runs)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    load = os.getloadavg()[0]
    cold, warm = measure(args.model, max(args.repeats, 1))
    table = render([(f"predict \"one sentence\", empty Numba cache (first run; {len(cold)} runs)",
                     cold),
                    (f"the same, the cache filled (every later run; {len(warm)} runs)", warm)])
    print(table)
    header = ["# Cold start: the first predict after installing", "",
              f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
              f"- machine: {machine()}",
              f"- load average at start: {load:.2f} (other work on the machine slows every row)",
              ""]
    notes = ("\nThe first run compiles the Numba kernels predict uses and writes them to the "
             "cache (`NUMBA_CACHE_DIR`, else beside the package); later runs load them. "
             "`predict` prints one note when the cache holds none of them "
             "(`policy_themes.kernels.first_use_compiles`). On a busy machine the wall time "
             "grows with the load; the CPU seconds (one process, one thread compiling) are "
             "the nearest figure to an idle machine's wall time.\n")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(header) + "\n" + table + notes, encoding="utf-8")
    return max(m.returncode for m in cold + warm)


if __name__ == "__main__":
    sys.exit(main())
