"""What the taxonomy's rules cost on real speeches: the vote matrix, and `label --documents`.

Runs on the first ``--speeches`` speeches of the UN General Debate corpus
(``/work/shared/corpus/ungdc_1946_2024.csv.gz``; skipped when absent) with the shipped taxonomy:

- ``votes``: :meth:`RuleMatcher.votes` over the speeches' sentences in chunks of 20,000, as
  ``label`` and ``predict``'s rule features apply it (one pyahocorasick scan per chunk);
- ``label``: the whole command, ``policy-themes label SLICE.csv --documents --no-rules -j 1``,
  in a subprocess.

Each figure is the median of ``--repeat`` runs, in seconds of CPU (this process's for
``votes``, the subprocess's for ``label``): on a machine whose cores other jobs share, wall
time says more about them than about the code. Run it against another checkout by pointing
``PYTHONPATH`` at that checkout's ``src`` (the script only uses what both have), e.g. to compare
the regex engines before and after a change::

    PYTHONPATH=src python benchmarks/rule_matching.py
    PYTHONPATH=/tmp/base/src python benchmarks/rule_matching.py
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path("/work/shared/corpus/ungdc_1946_2024.csv.gz")


def _sentences(frame) -> list[str]:
    from policy_themes.text.sentences import split_sentences

    return [s.text for text in frame["text"] for s in split_sentences(text)]


def _time_votes(sentences: list[str], repeat: int) -> float:
    from policy_themes.rules.labeling import RuleMatcher
    from policy_themes.rules.taxonomy import load_taxonomy

    matcher = RuleMatcher(load_taxonomy())
    matcher.votes(sentences[:100])  # build the automaton, not counted
    times = []
    for _ in range(repeat):
        start = time.process_time()
        for i in range(0, len(sentences), 20_000):
            matcher.votes(sentences[i:i + 20_000])
        times.append(time.process_time() - start)
    return statistics.median(times)


def _time_label(table: Path, repeat: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "policy_themes", "label", str(table),
                            "--documents", "--no-rules", "-j", "1", "-o",
                            str(Path(folder) / "out.csv")],
                           check=True, capture_output=True, env=os.environ.copy())
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speeches", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not CORPUS.is_file():
        print(f"skipped: {CORPUS} is absent")
        return
    import pandas as pd

    import policy_themes

    frame = pd.read_csv(CORPUS, nrows=args.speeches)
    sentences = _sentences(frame)
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "speeches.csv"
        frame.to_csv(table, index=False)
        label = _time_label(table, args.repeat)
    rows = [("votes (pyahocorasick scan)", _time_votes(sentences, args.repeat)),
            ("label --documents -j 1 (whole command)", label)]
    print(f"policy_themes from {Path(policy_themes.__file__).parent}")
    print(f"{args.speeches} speeches, {len(sentences):,} sentences, median of {args.repeat}\n")
    print("| what | CPU seconds |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
