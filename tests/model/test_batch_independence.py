"""A sentence's probabilities do not depend on the batch it is predicted in: alone, first, in
the middle or last of a batch, with either way the model computes features (its arrays, and the
scikit-learn pipeline), the probabilities are the same to the last bit.

The normalised batch pads its first and last texts a little differently from the others (a text
that starts or ends with punctuation gets two spaces there); the word and ``char_wb`` n-grams and
the rules' matches do not see it, which these tests hold to.
"""

from __future__ import annotations

import numpy as np
import pytest

from policy_themes.workflows.training import train

CONFIG = """seed: 0
features: {word: true, char: true, rules: true, context_words: true, context_rules: true}
params: {features__word__ngram_range: [1, 2], features__char__ngram_range: [2, 5],
         features__char__min_df: 1, clf__C: 10.0}
cv: {folds: 0}
context: {window: 1}
"""
PROBES = ["(Gas) flows again through the pipeline.", "“Trade, trade and trade!”",
          "...the consulate reopened", "Visas -- for students -- are free."]
FILLER = ["The minister spoke.", "Exports rose by a tenth.", "Talks went on all night."]


@pytest.fixture(scope="module")
def char_model(tmp_path_factory, train_small_path):
    """A model with word, character, rule and context features (the default model's blocks)."""
    from policy_themes.model.theme_model import load_model

    folder = tmp_path_factory.mktemp("independence")
    (folder / "train.yaml").write_text(CONFIG, encoding="utf-8")
    train([train_small_path], config=folder / "train.yaml", model_dir=folder / "model")
    return load_model(folder / "model", trust_pickle=True)


def _pipeline_proba(model, texts, context):
    from policy_themes.model.classifier import make_frame

    return model.pipeline.predict_proba(make_frame(texts, context))


@pytest.mark.parametrize("probe", PROBES)
@pytest.mark.parametrize("with_context", [False, True])
def test_a_sentence_gets_the_same_probabilities_wherever_it_is_in_a_batch(char_model, probe,
                                                                          with_context):
    batches = {"alone": ([probe], 0), "first": ([probe, *FILLER], 0),
               "middle": ([FILLER[0], probe, *FILLER[1:]], 1), "last": ([*FILLER, probe], 3)}
    for predict in (lambda t, c: char_model.predict_arrays(t, c)[3],
                    lambda t, c: _pipeline_proba(char_model, t, c)):
        got = {}
        for where, (texts, at) in batches.items():
            context = ["(Earlier.) The talks; the deal!"] * len(texts) if with_context else None
            got[where] = predict(texts, context)[at]
        for where in ("first", "middle", "last"):
            np.testing.assert_array_equal(got[where], got["alone"], err_msg=where)
