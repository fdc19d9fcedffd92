"""Assemble ``data/labeled/ungdc.csv`` from the labeling rounds of the UN General Debate sentences.

Inputs (a labeling folder, ``--work``): the drawn rows of ``ungdc_sample.py`` with their row ids
(``random_ids.csv``, ``targeted_ids.csv``, ``keyword_ids*.csv``), the first labels
(``out/[RTK]*.csv``), the independent second labels of a sample (``out/S*.csv``) and the
adjudicated labels of the rows where the two disagreed (``out/ADJ.csv``).

Output: ``ungdc.csv`` (one row per sentence, the adjudicated label where there was one, two
sentences of context on each side rebuilt from the corpus) and ``ungdc-agreement.csv`` (the
doubly labeled rows: both labels, the final one and the rule that settled it).

Sentences within 0.8 TF-IDF cosine of another kept sentence, or of a sentence of ``--exclude``
tables (the evaluation set, which is never copied), are dropped.

    python tools/ungdc_build.py --work ../labeling --exclude ../shared/eval/real-dev.csv \
        --exclude data/labeled/sentences.csv
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.features.context import SEPARATOR
from policy_themes.text.sentences import split_sentences

sys.path.insert(0, str(Path(__file__).parent))
from ungdc_sample import read_speeches  # noqa: E402

DRAWS = {"r": "random", "t": "model", "k": "keywords", "q": "keywords", "c": "keywords"}
WINDOW = 2
NEAR = 0.8


def read_rounds(work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The drawn rows with their final labels, and the doubly labeled rows."""
    drawn = pd.concat([pd.read_csv(f, keep_default_na=False) for f in
                       [work / "random_ids.csv", work / "targeted_ids.csv",
                        *sorted(glob.glob(str(work / "keyword_ids*.csv")))]], ignore_index=True)
    first = pd.concat([pd.read_csv(f, keep_default_na=False)
                       for f in sorted(glob.glob(str(work / "out" / "[RTK]*.csv")))])
    second = pd.concat([pd.read_csv(f, keep_default_na=False)
                        for f in sorted(glob.glob(str(work / "out" / "S*.csv")))])
    settled = pd.read_csv(work / "out" / "ADJ.csv", keep_default_na=False)
    rows = drawn.merge(first, on="row_id", validate="one_to_one")
    double = rows[["row_id", "themes"]].rename(columns={"themes": "first"}).merge(
        second.rename(columns={"themes": "second"}), on="row_id", validate="one_to_one")
    double = double.merge(settled.rename(columns={"themes": "adjudicated"}), on="row_id",
                          how="left")
    double["final"] = double["adjudicated"].where(double["adjudicated"].ne("")
                                                  & double["adjudicated"].notna(),
                                                  double["first"])
    final = dict(zip(double["row_id"], double["final"]))
    rows["themes"] = [final.get(r, t) for r, t in zip(rows["row_id"], rows["themes"])]
    return rows, double


def with_context(rows: pd.DataFrame) -> pd.DataFrame:
    """Two sentences before and after each row, from its speech split again."""
    speeches = read_speeches().set_index("speech_id")
    before, after = [], []
    for speech_id, group in rows.groupby("speech_id", sort=False):
        texts = [s.text for s in split_sentences(speeches.loc[speech_id, "text"], speech_id)]
        for index, text in zip(group["sentence"], group["text"]):
            if texts[index] != text:
                raise SystemExit(f"{speech_id} sentence {index} does not match the corpus")
            before.append((group.index[list(group["sentence"]).index(index)],
                           SEPARATOR.join(texts[max(index - WINDOW, 0):index])))
            after.append(SEPARATOR.join(texts[index + 1:index + 1 + WINDOW]))
    order = [i for i, _ in before]
    rows = rows.loc[order].copy()
    rows["context_before"] = [b for _, b in before]
    rows["context_after"] = after
    return rows


def near_duplicates(texts: list[str], others: list[str]) -> np.ndarray:
    """True for each text within ``NEAR`` cosine of an earlier text or of any of ``others``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectors = TfidfVectorizer().fit(texts + others)
    own = vectors.transform(texts)
    near = np.zeros(len(texts), dtype=bool)
    if others:
        theirs = vectors.transform(others)
        near |= (own @ theirs.T).max(axis=1).toarray().ravel() >= NEAR
    similar = (own @ own.T).tolil()
    for i in range(len(texts)):
        row = similar.rows[i]
        values = similar.data[i]
        near[i] |= any(j < i and v >= NEAR and not near[j] for j, v in zip(row, values))
    return near


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("data/labeled"))
    parser.add_argument("--exclude", action="append", default=[])
    args = parser.parse_args(argv)
    rows, double = read_rounds(args.work)
    rows = with_context(rows)
    others = [t for path in args.exclude for t in pd.read_csv(path)["text"].astype(str)]
    near = near_duplicates(rows["text"].tolist(), others)
    print(f"dropped {int(near.sum())} near-duplicate sentences", file=sys.stderr)
    rows = rows[~near]
    table = pd.DataFrame({
        "id": rows["row_id"], "text": rows["text"], "themes": rows["themes"],
        "doc_id": rows["speech_id"], "iso3": rows["iso3"], "year": rows["year"],
        "region": rows["region"], "sentence": rows["sentence"],
        "context_before": rows["context_before"], "context_after": rows["context_after"],
        "draw": rows["row_id"].str[0].map(DRAWS),
    }).sort_values(["doc_id", "sentence"])
    table.to_csv(args.out / "ungdc.csv", index=False)
    kept = set(table["id"])
    agreement = double[double["row_id"].isin(kept)][
        ["row_id", "first", "second", "final", "choice", "rule"]].rename(columns={"row_id": "id"})
    agreement.fillna("").to_csv(args.out / "ungdc-agreement.csv", index=False)
    print(f"{len(table)} sentences from {table['doc_id'].nunique()} speeches; "
          f"{len(agreement)} labeled twice", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
