"""The systems the accuracy benchmark compares, each as a *fitter*: given training sentences,
their theme lists, their contexts and their documents, it trains and returns a *predictor*, which
gives the primary theme, the theme set and (when it has them) the class probabilities of new
sentences. Every system is timed the same way: its fit, and its prediction of the sentences it
is scored on (features included).

- a policy-themes model: :func:`~policy_themes.workflows.training.train_model` (what
  ``policy-themes train`` runs) and the fitted pipeline's ``predict_themes`` (what ``evaluate``
  runs);
- word and character TF-IDF with an untuned scikit-learn classifier (logistic regression, linear
  SVM): the peer a user would try first;
- fastText, when it is installed.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policy_themes.config import TrainConfig
from policy_themes.model.classifier import make_frame
from policy_themes.rules.taxonomy import Taxonomy
from policy_themes.workflows.training import train_model

Prediction = tuple[list[str], list[list[str]], "np.ndarray | None"]
Predictor = Callable[[list[str], list[str]], Prediction]
Fitter = Callable[[list[str], list[list[str]], list[str], "list[str] | None"], Predictor]


@dataclass
class Timed:
    """A system's predictions of one set of sentences, and what fitting and predicting took:
    wall seconds, and this process's CPU seconds (the fairer figure on a shared machine, when
    the system runs on one thread)."""

    primary: list[str]
    sets: list[list[str]]
    proba: np.ndarray | None
    fit_seconds: float
    predict_seconds: float
    fit_cpu: float = float("nan")
    predict_cpu: float = float("nan")

    @property
    def predict_rate(self) -> float:
        """Sentences predicted per wall second."""
        return len(self.primary) / max(self.predict_seconds, 1e-9)

    @property
    def predict_cpu_rate(self) -> float:
        """Sentences predicted per CPU second."""
        return len(self.primary) / max(self.predict_cpu, 1e-9)


def fit_and_predict(fitter: Fitter, train: dict, test: dict) -> Timed:
    """Fit on ``train`` and predict ``test`` (each a dict of ``texts``, ``themes``, ``context``
    and ``groups`` lists), timing both."""
    start, start_cpu = time.perf_counter(), time.process_time()
    predictor = fitter(train["texts"], train["themes"], train["context"], train["groups"])
    fitted, fitted_cpu = time.perf_counter(), time.process_time()
    primary, sets, proba = predictor(test["texts"], test["context"])
    return Timed(list(primary), [list(s) for s in sets], proba, fitted - start,
                 time.perf_counter() - fitted, fitted_cpu - start_cpu,
                 time.process_time() - fitted_cpu)


def timing_cells(fit_seconds: float, fit_cpu: float, rate: float, cpu_rate: float) -> str:
    """Two table cells: fit seconds, wall (CPU), and predict rate per wall (per CPU) second."""
    return f"{fit_seconds:.1f} ({fit_cpu:.1f}) | {rate:,.0f} ({cpu_rate:,.0f})"


def package_fitter(config: TrainConfig, taxonomy: Taxonomy, *, n_jobs: int = 1,
                   results: list | None = None) -> Fitter:
    """A policy-themes model trained with ``config`` (its cross-validation included, as
    ``train`` runs it), predicting as ``evaluate`` does; each ``TrainResult`` is appended to
    ``results`` when given (its ``cv_metrics``: what ``train`` prints)."""

    def fit(texts, themes, context, groups):
        result = train_model(texts, themes, config=config, taxonomy=taxonomy, groups=groups,
                             context=context if config.uses_context else None, n_jobs=n_jobs)
        if results is not None:
            results.append(result)
        pipeline = result.pipeline

        def predict(texts, context):
            frame = make_frame(texts, context if result.config.uses_context else None)
            primary, sets, proba, _ = pipeline[-1].predict_themes(pipeline[:-1].transform(frame))
            return list(primary), sets, proba

        return predict

    return fit


def tfidf_fitter(estimator_factory: Callable, classes: list[str]) -> Fitter:
    """Word 1-2-gram and character 2-5-gram TF-IDF (sublinear, like the package's blocks), then
    the classifier ``estimator_factory()`` with scikit-learn's defaults, on primary themes."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union

    def fit(texts, themes, context, groups):
        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                            min_df=2))
        model = make_pipeline(features, estimator_factory())
        model.fit(texts, [t[0] for t in themes])

        def predict(texts, context):
            if not hasattr(model, "predict_proba"):
                primary = list(model.predict(texts))
                return primary, [[p] for p in primary], None
            proba = align(model.predict_proba(texts), list(model.classes_), classes)
            primary = [classes[j] for j in proba.argmax(axis=1)]
            return primary, [[p] for p in primary], proba

        return predict

    return fit


def untuned_logreg_fitter(classes: list[str]) -> Fitter:
    """``TfidfVectorizer()`` and ``LogisticRegression()``, both untuned."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    def fit(texts, themes, context, groups):
        model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
        model.fit(texts, [t[0] for t in themes])

        def predict(texts, context):
            proba = align(model.predict_proba(texts), list(model.classes_), classes)
            primary = [classes[j] for j in proba.argmax(axis=1)]
            return primary, [[p] for p in primary], proba

        return predict

    return fit


def fasttext_fitter(classes: list[str]) -> Fitter | None:
    """fastText (word bigrams, 25 epochs, one thread), or None when it is not installed."""
    try:
        import fasttext
    except ImportError:
        return None

    def fit(texts, themes, context, groups):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.txt"
            lines = [f"__label__{t[0]} {one_line(x)}" for x, t in zip(texts, themes)]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            model = fasttext.train_supervised(str(path), epoch=25, lr=0.5, wordNgrams=2,
                                              dim=50, minCount=1, thread=1, seed=0, verbose=0)
        prior = np.array([sum(t[0] == c for t in themes) for c in classes], dtype=float)
        prior /= prior.sum()

        def predict(texts, context):
            proba = np.zeros((len(texts), len(classes)))
            for i, text in enumerate(texts):
                # model.predict returns broken probabilities with NumPy 2; the binding does not
                for prob, label in model.f.predict(one_line(text), -1, 0.0, "strict"):
                    proba[i, classes.index(label.replace("__label__", ""))] = prob
            unread = proba.sum(axis=1) == 0  # fastText says nothing when no word is known
            proba[unread] = prior
            proba /= proba.sum(axis=1, keepdims=True)
            primary = [classes[j] for j in proba.argmax(axis=1)]
            return primary, [[p] for p in primary], proba

        return predict

    return fit


def accurate_variants(accurate: TrainConfig, settings: list[str]) -> list[tuple[str, TrainConfig]]:
    """The accurate config with each ``step__param=value`` of ``settings`` applied (as
    ``train --accurate --set`` applies it), named by the setting."""
    from policy_themes.config import parse_override

    variants = []
    for text in settings:
        name, value = parse_override(text)
        variants.append((text, accurate.with_overrides(params={name: value})))
    return variants


def one_line(text: str) -> str:
    """``text`` on one line, its whitespace runs single spaces."""
    return " ".join(str(text).split())


def align(proba: np.ndarray, have: list[str], classes: list[str]) -> np.ndarray:
    """``proba``'s columns (classes ``have``) placed in the order of ``classes``."""
    out = np.zeros((proba.shape[0], len(classes)))
    for j, c in enumerate(have):
        out[:, classes.index(c)] = proba[:, j]
    return out


def forget_embeddings() -> None:
    """Empty the process's sentence-embedding cache, so that the next fit and predict are
    timed as a fresh process would run them."""
    from policy_themes.features import embeddings

    embeddings._cache.clear()


def ci(metrics: dict, key: str) -> str:
    """``metrics[key]`` with its 95 % interval (``key_ci``) when it has one; – when undefined."""
    value, interval = metrics.get(key), metrics.get(f"{key}_ci")
    if value is None or value != value:
        return "–"
    if not interval or interval[0] is None or interval[0] != interval[0]:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as ``uptime`` shows them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())
