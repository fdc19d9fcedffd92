"""--jobs N gives the same files as one job, in input order (label and predict)."""

from __future__ import annotations

import pandas as pd
import pytest

from policy_themes.model.theme_model import load_model
from policy_themes.workflows.batch_labeling import label_files
from policy_themes.workflows.prediction import predict_files


@pytest.fixture(scope="module")
def speeches(tmp_path_factory, train_small_path):
    """13 'speeches' (train_small.csv's sentences joined per document) as a CSV of documents."""
    frame = pd.read_csv(train_small_path)
    docs = frame.groupby("doc_id", sort=False)["text"].apply(" ".join).reset_index()
    docs["year"] = range(2000, 2000 + len(docs))
    path = tmp_path_factory.mktemp("speeches") / "speeches.csv"
    docs[["doc_id", "year", "text"]].to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_label_with_two_jobs_writes_the_same_file(speeches, taxonomy, tmp_path, suffix):
    one, two = tmp_path / f"one{suffix}", tmp_path / f"two{suffix}"
    # chunksize 100 reads one document per chunk: 13 chunks
    run1 = label_files([speeches], taxonomy, out=one, documents=True, chunksize=100, jobs=1)
    run2 = label_files([speeches], taxonomy, out=two, documents=True, chunksize=100, jobs=2)
    assert one.read_bytes() == two.read_bytes()
    assert run1.sentences == run2.sentences > 13
    assert run1.analysis.overall() == run2.analysis.overall()
    labeled = pd.read_parquet(two) if suffix == ".parquet" else pd.read_csv(two)
    # input order: documents as in the file, sentences in document order
    assert list(dict.fromkeys(labeled["doc_id"])) == list(pd.read_csv(speeches)["doc_id"])
    for _, sentences in labeled.groupby("doc_id", sort=False)["sentence"]:
        assert sentences.tolist() == list(range(len(sentences)))


def test_label_gold_table_with_two_jobs(train_small_path, taxonomy, tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    run1 = label_files([train_small_path], taxonomy, out=one, chunksize=10, jobs=1)
    run2 = label_files([train_small_path], taxonomy, out=two, chunksize=10, jobs=2)
    assert one.read_bytes() == two.read_bytes()
    assert run2.has_gold
    assert run1.analysis.to_dict() == run2.analysis.to_dict()


def test_predict_with_two_jobs_writes_the_same_file(speeches, trained_model_dir, tmp_path):
    model = load_model(trained_model_dir)
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    seen = []
    run1 = predict_files(model, [speeches], out=one, documents=True, chunksize=100, jobs=1)
    run2 = predict_files(model, [speeches], out=two, documents=True, chunksize=100, jobs=2,
                         progress=lambda done, fraction: seen.append((done, fraction)))
    assert one.read_bytes() == two.read_bytes()
    assert run1.sentences == run2.sentences
    assert run1.preview.equals(run2.preview)
    # progress after every chunk, counts rising to the total
    assert len(seen) == 13
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (run2.sentences, 1.0)
    predicted = pd.read_parquet(two)
    assert list(dict.fromkeys(predicted["doc_id"])) == list(pd.read_csv(speeches)["doc_id"])
