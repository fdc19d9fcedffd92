"""Save what training made as a model directory, with its training report."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from policy_themes.evaluation.metrics import headline_metrics
from policy_themes.evaluation.report import EvalReport
from policy_themes.model.store import save_model
from policy_themes.resources import describe_data_files

__all__ = ["save_trained", "model_meta"]


def save_trained(result, model_dir: str | Path) -> Path:
    """Save a :class:`~TrainResult` as a model directory with its report.

    Returns
    -------
    Path
        The model directory.
    """
    taxonomy = result.taxonomy
    meta = model_meta(Path(model_dir).name, taxonomy, result.config,
                      training_data={"files": result.data_files,
                                     "sentences": result.n_sentences,
                                     "fingerprint": result.fingerprint,
                                     "weak_labels": result.weak,
                                     "primary_counts": result.primary_counts},
                      cv_metrics=headline_metrics(result.cv_metrics),
                      thresholds=result.thresholds,
                      data_findings=[f.to_dict() for f in getattr(result, "findings", [])])
    if result.config.uses_embeddings:
        from policy_themes.features.embeddings import fitted_embedding_models

        for name, version in fitted_embedding_models(result.pipeline).items():
            meta["embeddings"] = {"model": name, "version": version}

    def write_report(folder: Path) -> None:
        if result.cv_metrics is None:
            return
        report = EvalReport(metrics=result.cv_metrics, baselines={},
                            texts=result.cv_predictions["text"].tolist(),
                            title=f"Training report: {Path(model_dir).name} "
                                  f"({result.config.cv.folds}-fold cross-validation)",
                            meta={"training data": describe_data_files(result.data_files),
                                  "sentences": result.n_sentences,
                                  "taxonomy": taxonomy.name})
        report.write(folder)

    return save_model(model_dir, result.pipeline, meta, write_extra=write_report)


def model_meta(name: str, taxonomy, config, *, training_data: dict, cv_metrics: dict | None,
               thresholds: dict[str, float], **extra) -> dict:
    """The ``model.json`` fields every trainer writes: the model's name, its taxonomy, config,
    training data, figures, thresholds and the platform, then ``extra`` fields.

    Parameters
    ----------
    name : str
        The model directory's name.
    taxonomy : Taxonomy
    config : TrainConfig
    training_data : dict
        Files, sentence count, fingerprint and counts of the training data.
    cv_metrics : dict or None
        The headline figures (:func:`~policy_themes.evaluation.metrics.headline_metrics`).
    thresholds : dict
        Each theme's membership threshold.
    **extra
        Fields of one trainer (``trainer``, ``streaming``, ``data_findings``...).

    Returns
    -------
    dict
    """
    return {
        "name": name,
        "taxonomy": {"name": taxonomy.name, "ids": taxonomy.ids,
                     "fingerprint": taxonomy.fingerprint, "source": taxonomy.source},
        "config": config.to_dict(),
        "config_source": config.source,
        "training_data": training_data,
        "cv_metrics": cv_metrics,
        "thresholds": thresholds,
        "platform": {"python": sys.version.split()[0], "machine": platform.machine()},
        **extra,
    }
