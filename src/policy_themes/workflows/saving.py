"""Save what training made as a model directory, with its training report."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from policy_themes.evaluation.metrics import headline_metrics
from policy_themes.evaluation.report import EvalReport
from policy_themes.model.store import save_model
from policy_themes.resources import describe_data_files

__all__ = ["save_trained"]


def save_trained(result, model_dir: str | Path) -> Path:
    """Save a :class:`~TrainResult` as a model directory with its report.

    Returns
    -------
    Path
        The model directory.
    """
    taxonomy = result.taxonomy
    meta = {
        "name": Path(model_dir).name,
        "taxonomy": {"name": taxonomy.name, "ids": taxonomy.ids,
                     "fingerprint": taxonomy.fingerprint, "source": taxonomy.source},
        "config": result.config.to_dict(),
        "config_source": result.config.source,
        "training_data": {"files": result.data_files, "sentences": result.n_sentences,
                          "fingerprint": result.fingerprint, "weak_labels": result.weak,
                          "primary_counts": result.primary_counts},
        "data_findings": [f.to_dict() for f in getattr(result, "findings", [])],
        "cv_metrics": headline_metrics(result.cv_metrics),
        "thresholds": result.thresholds,
        "platform": {"python": sys.version.split()[0], "machine": platform.machine()},
    }
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
