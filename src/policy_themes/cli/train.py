"""``policy-themes train``: train a theme model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import (
    check_engine,
    engine_backend,
    handle_errors,
    jobs_or_cores,
    make_console,
    print_findings,
    stage_progress,
    with_ci,
)
from policy_themes.cli.options import (
    DocColumnOption,
    EncodingOption,
    Engine,
    EngineOption,
    LabelColumnOption,
    ModelDirOption,
    SchedulerOption,
    TaxonomyOption,
    TextColumnOption,
)

DataOption = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="DATA",
        help="Labeled tables (text + themes) [default: the shipped "
        "data/labeled/sentences.csv and ungdc.csv]; with --weak, unlabeled "
        "documents or "
        "tables.",
        show_default=False,
        readable=False,
    ),
]
ConfigPathOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="Training config YAML [default: the shipped configs/train.yaml].",
        readable=False,
    ),
]
WeakOption = Annotated[
    bool, typer.Option("--weak", help="Train on the rules' labels of unlabeled input.")
]
DocumentsOption = Annotated[
    bool, typer.Option("--documents", help="With --weak: table rows are documents.")
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", metavar="N", help="Override the config's seed.")
]
FoldsOption = Annotated[
    int | None,
    typer.Option(
        "--folds",
        metavar="N",
        help="Cross-validation folds [default: the config's, 5]. Training fits the model N + 1 "
        "times (once per fold, once on all the data), spread over --jobs: 5 folds on 2 cores "
        "take about 3 times one fit, 3 folds 2 times. 0 skips cross-validation: one fit, no "
        "cross-validated figures, every theme's threshold the config's default.",
    ),
]
OverridesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a pipeline parameter, e.g. --set clf__C=0.5 (repeatable).",
    ),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        metavar="N",
        help="Parallel cross-validation folds; with "
        "--streaming, processes labeling and "
        "hashing chunks [default: all cores].",
    ),
]
StreamingOption = Annotated[
    bool,
    typer.Option(
        "--streaming",
        help="Train out of core, chunk by chunk: hashed word "
        "1-2-grams + rule votes and a linear model "
        "trained by minibatch Adagrad, for data bigger "
        "than memory (no --config, no "
        "cross-validation: a share of documents is "
        "held out instead).",
    ),
]
EpochsOption = Annotated[
    int,
    typer.Option("--epochs", metavar="N", min=1, help="With --streaming: passes over the data."),
]
HoldoutOption = Annotated[
    float,
    typer.Option(
        "--holdout",
        metavar="SHARE",
        min=0.0,
        max=0.99,
        help="With --streaming: share of documents held out to choose "
        "thresholds and measure the model.",
    ),
]
ChunkSizeOption = Annotated[
    int,
    typer.Option(
        "--chunk-size",
        metavar="N",
        min=1,
        help="With --streaming: sentences read, labeled and hashed together.",
    ),
]
AccurateOption = Annotated[
    bool,
    typer.Option(
        "--accurate",
        help="Add sentence embeddings of each sentence and its "
        "context (what words mean, not only which): more "
        "accurate, hundreds of times slower to predict; "
        "needs pip install "
        "'policy-themes[embeddings]'.",
    ),
]


@app.command("train")
@handle_errors
def train_cmd(
    data: DataOption = None,
    config_path: ConfigPathOption = None,
    taxonomy_path: TaxonomyOption = None,
    model_dir: ModelDirOption = Path("models/default"),
    weak: WeakOption = False,
    documents: DocumentsOption = False,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
    doc_column: DocColumnOption = None,
    seed: SeedOption = None,
    folds: FoldsOption = None,
    overrides: OverridesOption = None,
    jobs: JobsOption = None,
    encoding: EncodingOption = None,
    streaming: StreamingOption = False,
    epochs: EpochsOption = 1,
    holdout: HoldoutOption = 0.05,
    chunk_size: ChunkSizeOption = 20_000,
    accurate: AccurateOption = False,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
) -> None:
    """Train a theme model, cross-validate it and save it with its report.

    Cross-validation is grouped by document (--doc-column, or the first document column the
    data has); it measures the model and chooses a probability threshold per theme. The model
    directory gets model.joblib, model.json and the cross-validated report (report.md,
    report.json, confusion.png).
    --engine dask runs the cross-validation folds on a Dask cluster. --streaming trains in
    bounded memory on data of any size, e.g. the rules' labels of a whole archive:
    policy-themes train --streaming --weak corpus.csv.gz --documents -m models/archive

    Example:

    \b
    policy-themes train --model-dir models/default
    """
    from policy_themes.config import load_train_config, parse_override

    check_engine(engine, scheduler)
    params = dict(parse_override(o) for o in overrides or [])
    if streaming:
        refused = {"--config": config_path, "--folds": folds, "--engine dask": engine == "dask",
                   "--accurate": accurate}
        _train_streaming(data, taxonomy_path=taxonomy_path, model_dir=model_dir, weak=weak,
                         documents=documents, text_column=text_column,
                         label_column=label_column, encoding=encoding, epochs=epochs,
                         holdout=holdout, chunk_size=chunk_size, params=params, seed=seed or 0,
                         jobs=jobs, refused=refused)
        _remember(model_dir)
        return
    config = load_train_config(config_path)
    if accurate:
        config = config.with_embeddings()
    config = config.with_overrides(seed=seed, folds=folds, params=params)
    with engine_backend(engine, scheduler), stage_progress() as update:
        from policy_themes.workflows.training import train

        result = train(data, config=config, taxonomy=taxonomy_path, model_dir=model_dir,
                       weak=weak, text_column=text_column, label_column=label_column,
                       documents=documents, doc_column=doc_column, encoding=encoding,
                       n_jobs=jobs_or_cores(jobs), progress=update)
    print_findings(result.findings)
    _print_train_summary(result, model_dir)
    _remember(model_dir)


def _remember(model_dir: Path) -> None:
    """Record the model as the user's last trained one (predict finds it from any folder); a
    folder that cannot be written costs only that, with a warning."""
    from policy_themes.errors import PolicyThemesError
    from policy_themes.model.locating import record_trained_model

    try:
        record_trained_model(model_dir)
    except PolicyThemesError as exc:
        typer.echo(f"Warning: the model is saved, but not recorded as the last trained ({exc})",
                   err=True)


def _train_streaming(
    data,
    *,
    taxonomy_path,
    model_dir,
    weak,
    documents,
    text_column,
    label_column,
    encoding,
    epochs,
    holdout,
    chunk_size,
    params,
    seed,
    jobs,
    refused,
) -> None:
    from policy_themes.errors import DataError
    from policy_themes.workflows.streaming_training import train_streaming

    given = [name for name, value in refused.items() if value not in (None, False)]
    if given:
        raise DataError(
            f"{given[0]} does not apply to --streaming (it trains hashed features "
            "with minibatch Adagrad and measures the model on held-out documents)"
        )
    if not data:
        raise DataError(
            "--streaming needs the training data as arguments, e.g. "
            "policy-themes train --streaming --weak corpus.csv.gz --documents"
        )
    with stage_progress() as update:
        result = train_streaming(data, taxonomy=taxonomy_path, model_dir=model_dir, weak=weak,
                                 text_column=text_column, label_column=label_column,
                                 documents=documents, encoding=encoding, epochs=epochs,
                                 chunksize=chunk_size, holdout=holdout, params=params,
                                 seed=seed, jobs=jobs_or_cores(jobs), progress=update)
    _print_streaming_summary(result, model_dir, epochs)


def _print_streaming_summary(result, model_dir: Path, epochs: int) -> None:
    from policy_themes.cli.render import figures_table

    figures = {"training sentences": result.n_sentences, "held-out sentences": result.n_holdout,
               "weak labels": result.weak, "epochs": epochs}
    metrics = result.holdout_metrics
    if metrics is not None:
        figures["held-out accuracy"] = with_ci(metrics["accuracy"], metrics.get("accuracy_ci"))
        figures["held-out macro-F1"] = with_ci(metrics["macro_f1"], metrics.get("macro_f1_ci"))
        figures["held-out theme-set micro-F1"] = metrics.get("set_micro_f1")
    figures["model directory"] = str(model_dir)
    make_console().print(figures_table(figures, title=f"Trained {model_dir.name} (streaming)"))
    if metrics is not None:
        typer.echo(f"Report: {model_dir / 'report.md'}")


def _print_train_summary(result, model_dir: Path) -> None:
    from policy_themes.cli.render import figures_table

    figures = {"training sentences": result.n_sentences, "weak labels": result.weak}
    metrics = result.cv_metrics
    if metrics is not None:
        figures.update(
            {
                "cv accuracy": with_ci(metrics["accuracy"], metrics.get("accuracy_ci")),
                "cv macro-F1": with_ci(metrics["macro_f1"], metrics.get("macro_f1_ci")),
                "cv theme-set micro-F1": metrics.get("set_micro_f1"),
                "cv top-3 accuracy": metrics.get("top3_accuracy"),
            }
        )
    figures["model directory"] = str(model_dir)
    make_console().print(figures_table(figures, title=f"Trained {model_dir.name}"))
    if metrics is None:
        typer.echo("No cross-validation (folds: 0): thresholds are the config's default.")
    else:
        typer.echo(f"Report: {model_dir / 'report.md'}")
