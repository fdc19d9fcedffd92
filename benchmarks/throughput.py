"""Throughput at archive scale: label, predict, streaming training and cold start, beside fastText.

Every measurement runs as a subprocess. A sampler thread follows the whole process tree (the
command, its worker processes, a forkserver) and records its peak memory as the sum of the
processes' PSS (proportional set size: shared pages counted once; RSS where PSS is unavailable)
and its CPU seconds. PSS is costly to read, so it is read once a second and whenever the RSS
has grown by 5% (see ``PSS_EVERY``). fastText (``fasttext-wheel``) is the peer: trained on the
same weak-labeled sentences, and predicting the same sentences our ``predict`` does.

    pip install '.[bench]'
    policy-themes train -m /tmp/default_model          # the default model, once
    python benchmarks/throughput.py --model /tmp/default_model --sample 300   # quick
    python benchmarks/throughput.py --model /tmp/default_model                # full corpus

Prints one Markdown table and writes it, with the date and the machine, to
``benchmarks/results/throughput.md`` (``--results`` to change).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ungdc_1946_2024.csv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "throughput.md"
# the installed command, as a user runs it
CLI = [shutil.which("policy-themes") or ""] if shutil.which("policy-themes") else \
    [sys.executable, "-m", "policy_themes"]


@dataclass
class Measure:
    """One subprocess run: wall seconds, CPU seconds, peak memory (MB) and exit code."""

    wall: float
    cpu: float
    peak_mb: float
    returncode: int


# reading a process's PSS walks its page tables: about 40 ms for predict's five processes, on
# the two cores the run uses. Read every 0.1 s, it slowed predict --documents by about 1 s (8%)
# and fastText's one process by nothing (it leaves a core idle). So PSS is read once a second,
# and at once whenever the processes' RSS (cheap to read) has grown by 5% since the last time.
PSS_EVERY, PSS_GROWTH, SAMPLE_EVERY = 1.0, 1.05, 0.1


def run(command: list[str], *, quiet: bool = True) -> Measure:
    """Run a command, sampling its process tree for memory and CPU."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL if quiet else None,
                               stderr=subprocess.PIPE, text=True)
    peak, cpu_seen = [0.0], {}
    stop = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            return
        read_at, rss_then = -PSS_EVERY, 0.0
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            rss = 0.0
            for proc in tree:
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        cpu_seen[proc.pid] = times.user + times.system
                        rss += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            now = time.perf_counter()
            if now - read_at >= PSS_EVERY or rss > PSS_GROWTH * rss_then:
                peak[0] = max(peak[0], _tree_memory(tree))
                read_at, rss_then = now, rss
            stop.wait(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    if process.returncode:
        sys.stderr.write(f"command failed ({process.returncode}): {' '.join(command)}\n{stderr}")
    return Measure(wall, sum(cpu_seen.values()), peak[0] / 2**20, process.returncode)


def _tree_memory(tree) -> float:
    import psutil

    total = 0.0
    for proc in tree:
        try:
            total += _memory(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _memory(proc) -> float:
    try:
        return float(proc.memory_full_info().pss)
    except (AttributeError, OSError):
        return float(proc.memory_info().rss)


def python_script(code: str) -> list[str]:
    """A command running ``code`` in this Python."""
    return [sys.executable, "-c", code]


FASTTEXT_TRAIN = """
import sys, fasttext
model = fasttext.train_supervised(input=sys.argv[1], epoch=5, wordNgrams=2, thread=2,
                                  bucket=2**20, verbose=0)
model.save_model(sys.argv[2])
"""

# model.predict is broken under NumPy 2: call the C++ multilinePredict on batches of lines
FASTTEXT_PREDICT = """
import sys, fasttext
model = fasttext.load_model(sys.argv[1])
batch, n = [], 0
with open(sys.argv[2], encoding="utf-8") as handle, open(sys.argv[3], "w") as out:
    for line in handle:
        batch.append(line.rstrip("\\n"))
        if len(batch) == 100_000:
            probs, labels = model.f.multilinePredict(batch, 3, 0.0, "strict")
            out.writelines(f"{l[0] if len(l) else ''}\\n" for l in labels)
            n += len(batch)
            batch = []
    if batch:
        probs, labels = model.f.multilinePredict(batch, 3, 0.0, "strict")
        out.writelines(f"{l[0] if len(l) else ''}\\n" for l in labels)
        n += len(batch)
print(n)
"""


def prepare_input(corpus: Path, sample: int | None, folder: Path) -> Path:
    """The corpus, or a random sample of ``sample`` speeches written beside the other files."""
    if not sample:
        return corpus
    import pandas as pd

    frame = pd.read_csv(corpus, dtype=str, keep_default_na=False)
    path = folder / f"ungdc_sample{sample}.csv.gz"
    frame.sample(min(sample, len(frame)), random_state=0).to_csv(path, index=False)
    return path


def prepare_training(labeled: Path, n: int, folder: Path) -> tuple[Path, Path, Path, int]:
    """From the labeled corpus: ``n`` weak-labeled sentences as our CSV and fastText's text file,
    and every sentence as one line for prediction."""
    import pyarrow.parquet as pq

    table = pq.read_table(labeled, columns=["doc_id", "text", "themes"]).to_pandas()
    table = table[table["text"].str.strip() != ""]
    sentences = folder / "sentences.txt"
    flat = table["text"].str.replace("\n", " ", regex=False)
    sentences.write_text("\n".join(flat) + "\n", encoding="utf-8")
    # the same sentences as a table, for our predict without sentence splitting
    table[["doc_id", "text"]].to_parquet(folder / "sentences.parquet", index=False)
    train = table.head(n)
    ours = folder / "weak.csv"
    train.to_csv(ours, index=False)
    theirs = folder / "weak.fasttext.txt"
    primary = train["themes"].str.split(";").str[0]
    lines = "__label__" + primary + " " + flat.head(n)
    theirs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ours, theirs, sentences, len(train)


def count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    if path.is_dir():
        return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(path.glob("*.parquet")))
    return pq.ParquetFile(path).metadata.num_rows


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--sample", type=int, default=None,
                        help="Random sample of N speeches [default: the whole corpus].")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default",
                        help="The default model (policy-themes train -m DIR).")
    parser.add_argument("--jobs", type=int, default=0, help="--jobs of label/predict (0: all).")
    parser.add_argument("--train-sentences", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=1, help="--epochs of train --streaming.")
    parser.add_argument("--train-repeats", type=int, default=3,
                        help="Runs of our training and fastText's, alternately; the table "
                             "shows the median (fastText's wall time varies by a third from "
                             "run to run here).")
    parser.add_argument("--predict-repeats", type=int, default=3,
                        help="Runs of fastText's predict and of ours on the speeches and on the "
                             "sentence table, in turn; the table shows the medians (fastText's "
                             "predict took 13.5-16.8 s here in one day).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the outputs here.")
    args = parser.parse_args(argv)
    for tool in ("psutil", "fasttext"):
        try:
            __import__(tool)
        except ImportError:
            parser.error(f"{tool} is missing: pip install '.[bench]'")
    if not (args.model / "model.json").is_file():
        parser.error(f"no model at {args.model}: run `policy-themes train -m {args.model}`")

    folder = Path(tempfile.mkdtemp(prefix="pt-bench.", dir=args.keep))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows: list[tuple] = []
    try:
        corpus = prepare_input(args.corpus, args.sample, folder)
        jobs = ["--jobs", str(args.jobs)]
        labeled = folder / "labeled.parquet"
        label = run([*CLI, "label", str(corpus), "--documents", "--no-rules", "--out",
                     str(labeled), *jobs])
        n_sentences = count_rows(labeled)
        label1 = run([*CLI, "label", str(corpus), "--documents", "--no-rules", "--out",
                      str(folder / "labeled1.parquet"), "--jobs", "1"])
        weak, weak_ft, sentences_txt, n_train = prepare_training(labeled, args.train_sentences,
                                                                 folder)
        streaming_dir = folder / "streaming_model"
        ft_model = folder / "fasttext.bin"
        ours_runs, ft_runs = [], []
        for _ in range(max(args.train_repeats, 1)):
            ours_runs.append(run([*CLI, "train", "--streaming", str(weak), "-m",
                                  str(streaming_dir), "--epochs", str(args.epochs), *jobs]))
            ft_runs.append(run(python_script(FASTTEXT_TRAIN) + [str(weak_ft), str(ft_model)]))
        ours_train, ft_train = _median(ours_runs), _median(ft_runs)
        repeats = f", median of {len(ours_runs)}" if len(ours_runs) > 1 else ""
        predict_runs: dict[str, list[Measure]] = {"fastText": [], "speeches": [], "table": []}
        for _ in range(max(args.predict_repeats, 1)):
            predict_runs["fastText"].append(run(
                python_script(FASTTEXT_PREDICT)
                + [str(ft_model), str(sentences_txt), str(folder / "ft_pred.txt")]))
            predict_runs["speeches"].append(run(
                [*CLI, "predict", "-i", str(corpus), "--documents", "-m", str(args.model),
                 "--out", str(folder / "predicted.parquet"), *jobs]))
            predict_runs["table"].append(run(
                [*CLI, "predict", "-i", str(folder / "sentences.parquet"), "-m",
                 str(args.model), "--out", str(folder / "predicted_s.parquet"), *jobs]))
        ft_predict, predict, predict_sentences = map(_median, predict_runs.values())
        predict_repeats = (f", median of {len(predict_runs['table'])}"
                           if len(predict_runs["table"]) > 1 else "")
        ft_rate = n_sentences / ft_predict.wall
        ours_primary = run([*CLI, "train", "--streaming", str(weak), "-m",
                            str(folder / "primary_model"), "--epochs", str(args.epochs),
                            "--set", "clf__multilabel=false", *jobs])
        predict_sgd = run([*CLI, "predict", "-i", str(corpus), "--documents", "-m",
                           str(streaming_dir), "--out", str(folder / "predicted_sgd.parquet"),
                           *jobs])
        profile_row = _profile_row(folder / "predicted.parquet", corpus, folder, n_sentences)
        help_runs = [run([*CLI, "--help"]) for _ in range(3)]
        one_runs = [run([*CLI, "predict", "-m", str(args.model),
                         "The two ministers discussed the new gas pipeline."]) for _ in range(3)]

        def rate(m: Measure, n: int) -> str:
            return f"{n / m.wall:,.0f}"

        jobs_text = f"--jobs {args.jobs or os.cpu_count()}"
        rows = [
            (f"label --documents ({jobs_text})", label, n_sentences, rate(label, n_sentences),
             "–", "≤ 120 s, ≤ 1 GB"),
            ("label --documents (--jobs 1)", label1, n_sentences, rate(label1, n_sentences),
             "–", "–"),
            (f"predict, default model ({jobs_text}{predict_repeats})", predict, n_sentences,
             rate(predict, n_sentences), f"{n_sentences / predict.wall / ft_rate:.2f}× rate",
             "≤ 180 s, ≤ 1 GB, rate ≥ fastText"),
            (f"predict, default model, the fastText sentences as a table ({jobs_text}"
             f"{predict_repeats})",
             predict_sentences, n_sentences, rate(predict_sentences, n_sentences),
             f"{n_sentences / predict_sentences.wall / ft_rate:.2f}× rate", "–"),
            (f"predict, streaming model ({jobs_text})", predict_sgd, n_sentences,
             rate(predict_sgd, n_sentences), f"{n_sentences / predict_sgd.wall / ft_rate:.2f}× "
             "rate", "–"),
            (f"fastText predict (top 3, same sentences{predict_repeats})", ft_predict,
             n_sentences,
             f"{ft_rate:,.0f}", "1.00×", "–"),
            (f"train --streaming ({args.epochs} epoch, {jobs_text}{repeats})", ours_train, n_train,
             rate(ours_train, n_train), f"{ours_train.wall / ft_train.wall:.2f}× wall",
             "wall ≤ fastText's"),
            (f"train --streaming, primary head only like fastText ({args.epochs} epoch, "
             f"{jobs_text})", ours_primary, n_train, rate(ours_primary, n_train),
             f"{ours_primary.wall / ft_train.wall:.2f}× wall", "–"),
            (f"fastText train (5 epochs, bigrams, 2 threads{repeats})", ft_train, n_train,
             rate(ft_train, n_train), "1.00×", "–"),
            profile_row,
            ("cold start: policy-themes --help (median of 3)", _median(help_runs), 0, "–", "–",
             "≤ 1.5 s"),
            ("cold start: predict \"one sentence\" (median of 3)", _median(one_runs), 1, "–",
             "–", "≤ 1.5 s"),
        ]
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    table = render(rows)
    size = f"{args.sample} sampled speeches" if args.sample else "the whole corpus"
    header = (f"# Throughput ({size}: {rows[0][2]:,} sentences)\n\n"
              f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n"
              f"- machine: {machine()}\n"
              f"- load average at start: {load:.2f} (other work on the machine slows every "
              "row)\n"
              f"- corpus: {args.corpus.name}\n\n")
    notes = ("\nPeak memory: sum of PSS over the command's process tree (main process, worker "
             "processes, forkserver), read once a second and whenever the tree's RSS grew by "
             "5% (reading PSS walks page tables: every 0.1 s it slowed our two-core runs by "
             "about 8%). CPU: user + system seconds of the tree, sampled every 0.1 s. The "
             "fastText predict row reads the sentences from a text file; our predict rows read "
             "the gzipped CSV, split the speeches and write Parquet, except the row "
             "that reads the same sentences as a Parquet table (doc_id, text: no splitting). "
             "fastText trains on the primary theme only; `train --streaming` trains one linear "
             "model with 31 outputs (a softmax over the 16 classes for the primary theme and a "
             "logistic output per theme for membership), and with "
             "`--set clf__multilabel=false` the 16 class outputs only.\n")
    text = header + table + notes
    print(table)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    return 0


def _profile_row(predictions: Path, corpus: Path, folder: Path, n_sentences: int) -> tuple:
    """The row of ``profile --by iso3 --by year --bin decade`` on the predictions of
    ``predict --documents``, measured by ``profiles.py``'s function."""
    from profiles import GOAL, profile_predictions, with_corpus_columns

    predictions = with_corpus_columns(predictions, corpus, folder)
    measure = profile_predictions(predictions, folder / "profile")
    return ("profile --by iso3 --by year --bin decade, the predictions of predict --documents "
            "(Parquet)", measure, n_sentences, f"{n_sentences / measure.wall:,.0f}", "–", GOAL)


def _median(runs: list[Measure]) -> Measure:
    ordered = sorted(runs, key=lambda m: m.wall)
    middle = ordered[len(ordered) // 2]
    return Measure(statistics.median(m.wall for m in runs), middle.cpu, middle.peak_mb,
                   max(m.returncode for m in runs))


def render(rows: list[tuple]) -> str:
    lines = ["| run | sentences | wall s | CPU s | sentences/s | peak memory MB | vs fastText "
             "| goal | exit |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for name, m, n, rate, ratio, goal in rows:
        lines.append(f"| {name} | {n:,} | {m.wall:.1f} | {m.cpu:.1f} | {rate} | "
                     f"{m.peak_mb:,.0f} | {ratio} | {goal} | {m.returncode} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
