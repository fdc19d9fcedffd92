"""Compare sentence splitters: policy-themes' own, blingfire and pysbd.

Correctness on the cases the foundation issue names (abbreviations, numbers, quotations, headings,
bullets, Windows line endings, hyphenated breaks) and on the seed statement, then speed on a
sample of the UN General Debate corpus. Prints a Markdown table.

    pip install blingfire pysbd
    python benchmarks/segmentation.py --sample 300
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import pandas as pd

from policy_themes.text.sentences import prepare_compiled_splitter, sentence_spans, split_sentences

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ungdc_1946_2024.csv.gz"

CASES = [
    ("H.E. Mr. Ilham Aliyev received the delegation. The talks lasted two hours.", 2),
    ("Dr. Smith met U.S. Secretary Blinken in Washington. They discussed trade.", 2),
    ("The U.N. Security Council met. The meeting ended at noon.", 2),
    ("See resolution No. 2334 for details. It was adopted in 2016.", 2),
    ("Partners, e.g. Japan and Korea, joined. Others, i.e. the rest, did not.", 2),
    ("He lives on St. James Street. The embassy is near.", 2),
    ("Growth reached 2.5% in 2017. Trade rose to 1.2 billion dollars.", 2),
    ("Approx. 12% of the budget went to aid. The rest was saved.", 2),
    ('He said: "We will continue. We are known today." Then he left.', 3),
    ("Joint Statement\nThe ministers met in Baku. They signed three agreements.", 3),
    ("The priorities are:\n- energy security;\n- transport links\nThe list ends.", 4),
    ("First line of the text.\r\nSecond line.\r\n\r\nNew paragraph here.", 3),
    ("The talks focused on inter-\nnational cooperation.", 1),
    ("The decision was taken in the U.S. The Senate agreed.", 2),
]


def ours(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def ours_compiled(text: str) -> list[str]:
    """The same splitter compiled by Numba, as it splits a large batch of documents."""
    return [cleaned for _, _, cleaned in sentence_spans(text, compiled=True)]


def blingfire_split(text: str) -> list[str]:
    import blingfire

    return [s for s in blingfire.text_to_sentences(text).split("\n") if s.strip()]


def pysbd_split(text: str) -> list[str]:
    return [s for s in _pysbd().segment(text) if s.strip()]


_SEGMENTER = None


def _pysbd():
    global _SEGMENTER
    if _SEGMENTER is None:
        import pysbd

        _SEGMENTER = pysbd.Segmenter(language="en", clean=False)
    return _SEGMENTER


def corpus_sample(n: int) -> list[str]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, nrows=n)
    return frame["text"].astype(str).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=300, help="speeches of the corpus to time")
    args = parser.parse_args()
    seed = (ROOT / "data" / "raw" / "foreign-policy-2017.txt").read_text(encoding="utf-8")
    splitters = {"policy-themes": ours, "policy-themes, compiled (batches)": ours_compiled,
                 "blingfire": blingfire_split, "pysbd": pysbd_split}
    prepare_compiled_splitter()  # loading Numba's machine code is not splitting
    docs = corpus_sample(args.sample) if CORPUS.exists() else []
    chars = sum(map(len, docs))
    print(f"| splitter | cases right (of {len(CASES)}) | seed: 'H.E Mr.' kept | "
          f"seed sentences | corpus MB/s ({args.sample} speeches, {chars / 1e6:.1f} MB) | "
          "corpus sentences |")
    print("|---|---|---|---|---|---|")
    for name, split in splitters.items():
        try:
            right = sum(len(split(text)) == n for text, n in CASES)
        except ImportError:
            print(f"| {name} | not installed | | | | |")
            continue
        seed_sentences = split(seed)
        kept = not any(s.rstrip().endswith("H.E Mr.") for s in seed_sentences)
        start = time.perf_counter()
        count = sum(len(split(d)) for d in docs)
        seconds = time.perf_counter() - start
        speed = f"{chars / 1e6 / seconds:.2f}" if docs else "corpus absent"
        print(f"| {name} | {right} | {kept} | {len(seed_sentences)} | {speed} | {count:,} |")


if __name__ == "__main__":
    main()
