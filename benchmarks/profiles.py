"""Theme profiles at archive scale: ``profile`` on the predictions of the whole UN corpus.

Each run is the command as a subprocess, measured as in ``throughput.py`` (wall time, CPU
seconds and the peak PSS of its process tree). The predictions need ``doc_id``, ``iso3``,
``year``, ``primary`` and ``themes``: without ``--predictions``, ``predict --documents`` of the
corpus writes them first (it keeps the corpus' ``iso3`` and ``year``); predictions without
``iso3`` or ``year`` get them from the corpus by ``doc_id``.

    python benchmarks/profiles.py --predictions predicted.parquet
    python benchmarks/profiles.py --model models/default         # predicts the corpus first
    python benchmarks/profiles.py --predictions predicted.parquet --figures docs/profiles

Prints one Markdown table and writes it, with the date and the machine, to
``benchmarks/results/profiles.md`` (``--results`` to change). ``--figures DIR`` copies the
pictures and ``profile.md`` of the first run there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import Measure, machine, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ungdc_1946_2024.csv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "profiles.md"
# this checkout's package, whatever is installed
CLI = [sys.executable, "-m", "policy_themes"]
GOAL = "≤ 10 s, ≤ 1 GB"
BY = ["--by", "iso3", "--by", "year", "--bin", "decade"]
THEMES = "energy_diplomacy,counter_terrorism,information_disinformation,regional_cooperation"


def predict_corpus(corpus: Path, model: Path, folder: Path) -> Path:
    """The corpus' predictions, with its iso3 and year, as Parquet."""
    out = folder / "predicted.parquet"
    subprocess.run([*CLI, "predict", "-i", str(corpus), "--documents", "--model-dir",
                    str(model), "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def with_corpus_columns(predictions: Path, corpus: Path, folder: Path) -> Path:
    """The predictions with the corpus' iso3 and year, joined by doc_id when they lack them
    (``predict --documents`` names a row's document ``<file name>:<row>``)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = pq.ParquetFile(predictions).schema_arrow.names
    if {"iso3", "year"} <= set(names):
        return predictions
    rows = pd.read_csv(corpus, usecols=["iso3", "year"], dtype=str, keep_default_na=False)
    stem = corpus.name.removesuffix(".gz")
    lookup = rows.set_axis([f"{stem}:{i + 1}" for i in range(len(rows))])
    out = folder / "predicted_with_corpus_columns.parquet"
    writer = None
    for batch in pq.ParquetFile(predictions).iter_batches(batch_size=100_000):
        frame = batch.to_pandas()
        frame = frame.drop(columns=[c for c in ("iso3", "year") if c in frame.columns])
        frame = frame.join(lookup, on="doc_id")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(out, table.schema)
        writer.write_table(table)
    writer.close()
    return out


def as_csv(predictions: Path, folder: Path) -> Path:
    """The same predictions as a gzip-compressed CSV file, the text included."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    out = folder / "predicted.csv.gz"
    parquet = pq.ParquetFile(predictions)
    with pa.CompressedOutputStream(str(out), "gzip") as stream:
        writer = pa_csv.CSVWriter(stream, parquet.schema_arrow)
        for batch in parquet.iter_batches(batch_size=100_000):
            writer.write_batch(batch)
        writer.close()
    return out


def count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=Path, default=None,
                        help="Predictions of the corpus (Parquet) [default: predict it].")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--repeats", type=int, default=3,
                        help="Runs of the main row; the table shows the median.")
    parser.add_argument("--no-csv", action="store_true",
                        help="Leave out the row that reads the predictions as CSV.")
    parser.add_argument("--figures", type=Path, default=None,
                        help="Copy the first run's pictures and profile.md here.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit("the benchmark needs psutil: pip install '.[bench]'")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="profile-bench-") as tmp:
        folder = Path(tmp)
        predictions = args.predictions or predict_corpus(args.corpus, args.model, folder)
        predictions = with_corpus_columns(predictions, args.corpus, folder)
        sentences = count_rows(predictions)
        rows = _measure(predictions, folder, args)
        if not args.no_csv:
            csv = as_csv(predictions, folder)
            rows.append(("the same from CSV (.csv.gz, text included)",
                         run([*CLI, "profile", str(csv), *BY, "--out", str(folder / "csv")]),
                         "–"))
        if args.figures is not None:
            _copy_figures(folder / "out0", args.figures)
    table = render(rows, sentences)
    print(table)
    header = ["# Theme profiles (the whole corpus)", "",
              f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
              f"- machine: {machine()}",
              f"- load average at start: {load:.2f} (other work on the machine slows every row)",
              f"- predictions: {predictions.name}, {sentences:,} sentences", ""]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(header) + "\n" + table + "\n" + NOTES, encoding="utf-8")
    return max(m.returncode for _, m, _ in rows)


def profile_predictions(predictions: Path, out: Path) -> Measure:
    """``profile --by iso3 --by year --bin decade`` of the predictions into ``out``, measured
    (``throughput.py`` has this row too)."""
    return run([*CLI, "profile", str(predictions), *BY, "--out", str(out)])


def _measure(predictions: Path, folder: Path, args) -> list[tuple[str, Measure, str]]:
    """The main row (median of ``--repeats``) and the one with --top and --themes."""
    runs = [profile_predictions(predictions, folder / f"out{i}") for i in range(args.repeats)]
    main_row = (f"profile --by iso3 --by year --bin decade --out (Parquet, median of "
                f"{len(runs)})", _median(runs), GOAL)
    top = run([*CLI, "profile", str(predictions), *BY, "--top", "20", "--themes", THEMES,
               "--format", "parquet", "--out", str(folder / "top")])
    return [main_row, ("the same with --top 20 --themes (4) --format parquet", top, "–")]


def _copy_figures(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in [*sorted(source.glob("*.png")), source / "profile.md"]:
        shutil.copy2(path, target / path.name)


def _median(runs: list[Measure]) -> Measure:
    ordered = sorted(runs, key=lambda m: m.wall)
    middle = ordered[len(ordered) // 2]
    return Measure(statistics.median(m.wall for m in runs), middle.cpu, middle.peak_mb,
                   max(m.returncode for m in runs))


def render(rows: list[tuple[str, Measure, str]], sentences: int) -> str:
    lines = ["| run | sentences | wall s | CPU s | peak memory MB | goal | exit |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for name, m, goal in rows:
        lines.append(f"| {name} | {sentences:,} | {m.wall:.1f} | {m.cpu:.1f} | "
                     f"{m.peak_mb:,.0f} | {goal} | {m.returncode} |")
    return "\n".join(lines) + "\n"


NOTES = """
Each run reads the predictions in chunks (Parquet: only the doc_id, iso3, year, primary and
themes columns; CSV: every column, the text included), keeps per document the sentence counts
of each theme, and computes the shares of every country × decade group, of every country and
of every decade, each with 1,000 bootstrap replicates, then writes the tables (CSV), three PNG
pictures and profile.md. Peak memory: sum of PSS over the command's process tree, read once
a second and whenever its RSS grew by 5 %. CPU: user + system seconds of the tree.
"""


if __name__ == "__main__":
    sys.exit(main())
