"""The labeling loop's commands: ``suggest`` (what to label next) and ``audit`` (which labels
look wrong). Each parses its options, calls one API function and prints the result."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import (
    handle_errors,
    jobs_or_cores,
    make_console,
    print_findings,
    stage_progress,
)
from policy_themes.cli.options import (
    DocColumnOption,
    EncodingOption,
    JobsOption,
    LabelColumnOption,
    ModelDirOption,
    TaxonomyOption,
    TextColumnOption,
)

__all__ = ["suggest_cmd", "audit_cmd"]


class Ranking(str, Enum):
    """How ``audit`` orders the rows."""

    self_confidence = "self_confidence"
    margin = "margin"


class PoolRanking(str, Enum):
    """How ``suggest`` chooses (the workflow's ``RANKINGS``, kept here so that the CLI starts
    without importing the workflow)."""

    sampled = "sampled"
    typical = "typical"
    clusters = "clusters"
    margin = "margin"


PoolArgument = Annotated[
    list[Path],
    typer.Argument(help="Unlabeled sentence tables (text column; a document column gives "
                        "context), or .txt documents.", show_default=False, readable=False,
                   metavar="POOL"),
]
NumberOption = Annotated[
    int, typer.Option("-n", "--number", min=1, metavar="N", help="How many sentences to suggest.")
]
SuggestOutOption = Annotated[
    Path, typer.Option("--out", "-o", metavar="FILE",
                       help="The suggestions to fill in (CSV, TSV, JSONL or Parquet by "
                            "extension).")
]
LabelStudioOption = Annotated[
    Path | None,
    typer.Option("--label-studio", metavar="FILE",
                 help="Also write a Label Studio import file (.json, the model's guesses as "
                      "pre-annotations) and its labeling config (<name>.label-config.xml).")
]
DoccanoOption = Annotated[
    Path | None,
    typer.Option("--doccano", metavar="FILE",
                 help="Also write a doccano import file (.jsonl, text classification; the "
                      "model's guesses as labels).")
]
ProdigyOption = Annotated[
    Path | None,
    typer.Option("--prodigy", metavar="FILE",
                 help="Also write a Prodigy file for the choice interface (.jsonl; the themes "
                      "as options, the model's guesses accepted).")
]
ExcludeOption = Annotated[
    list[Path] | None,
    typer.Option("--exclude", metavar="LABELED",
                 help="Labeled files whose sentences are not to be suggested (the model's "
                      "training files always are not; repeatable).")
]
SkipTrainingDataOption = Annotated[
    bool, typer.Option("--skip-training-data/--keep-training-data",
                       help="Leave out the sentences of the model's training files.")
]
DocumentsOption = Annotated[
    bool, typer.Option("--documents", help="Table rows are documents to split into sentences.")
]
LabeledArgument = Annotated[
    list[Path],
    typer.Argument(help="Labeled tables (text + themes), or Label Studio JSON exports.",
                   show_default=False, readable=False, metavar="LABELED"),
]
AuditOutOption = Annotated[
    Path, typer.Option("--out", "-o", metavar="FILE",
                       help="Every row, the most suspect first (CSV, TSV, JSONL or Parquet by "
                            "extension).")
]
ReportOption = Annotated[
    Path | None, typer.Option("--report", metavar="FILE",
                              help="Markdown report of the most suspect rows [default: --out "
                                   "with .md].")
]
TopOption = Annotated[
    int, typer.Option("--top", min=1, metavar="N", help="Rows in the report and on screen.")
]
FoldsOption = Annotated[
    int | None, typer.Option("--folds", min=2, metavar="N",
                             help="Folds of each cross-validation [default: 5, or the "
                                  "model's when it has fewer].")
]
RepeatsOption = Annotated[
    int | None, typer.Option("--repeats", min=1, metavar="N",
                             help="Cross-validations averaged, with different folds (the "
                                  "second without character n-grams) [default: 2].")
]
RankingOption = Annotated[
    Ranking, typer.Option("--ranking", help="Order rows by self_confidence (the given label's "
                                            "probability) or margin (it minus the best other "
                                            "class's).")
]
PoolRankingOption = Annotated[
    PoolRanking, typer.Option("--ranking", help="sampled: the most uncertain of 2 x -n random "
                                                "sentences; typical: the most central of each "
                                                "of -n groups of similar sentences; clusters: "
                                                "the most uncertain of each group; margin: the "
                                                "most uncertain.")
]
EmbeddingsOption = Annotated[
    bool, typer.Option("--embeddings", help="Average in a second opinion: the same "
                                            "cross-validations of a model on sentence "
                                            "embeddings (embeds every sentence and its context "
                                            "once; needs pip install "
                                            "'policy-themes[embeddings]').")
]


def suggest_cmd(
    pool: PoolArgument,
    model_dir: ModelDirOption = Path("models/default"),
    n: NumberOption = 50,
    out: SuggestOutOption = Path("suggestions.csv"),
    label_studio: LabelStudioOption = None,
    doccano: DoccanoOption = None,
    prodigy: ProdigyOption = None,
    exclude: ExcludeOption = None,
    skip_training_data: SkipTrainingDataOption = True,
    text_column: TextColumnOption = "text",
    documents: DocumentsOption = False,
    doc_column: DocColumnOption = None,
    encoding: EncodingOption = None,
    ranking: PoolRankingOption = PoolRanking.sampled,
) -> None:
    """Suggest which sentences to label next: those a label would teach the model most.

    The model predicts every sentence of the pool; the picks are the sentences it is least
    sure of (the smallest margin between its two most probable themes), themes with fewer
    labels than their share of the pool first, among twice -n drawn at random (--ranking for
    others). The output has an empty themes column: fill it in (theme ids, ';' between
    several, the primary first; delete rows you skip) and train on it beside the earlier
    labels. Sentences already labeled (in the model's training files, or --exclude) are left
    out. With --label-studio, import the .json into a Label Studio project set up with the
    .label-config.xml; train and evaluate read Label Studio's JSON and JSON-MIN exports as they
    read a CSV. --doccano and --prodigy write JSONL tasks for those tools; train reads doccano's
    JSONL export and Prodigy's accepted answers (prodigy db-out).
    Takes about as long as predicting the pool.

    Example:

    \b
    policy-themes suggest pool.csv -m models/mine -n 50 --label-studio tasks.json
    """
    from policy_themes.cli.render import frame_table
    from policy_themes.workflows.suggest import suggest

    result = suggest(pool, model=model_dir, n=n, out=out, label_studio=label_studio,
                     doccano=doccano, prodigy=prodigy, exclude=exclude or (),
                     skip_training_data=skip_training_data,
                     text_column=text_column, documents=documents, doc_column=doc_column,
                     encoding=encoding, ranking=ranking.value)
    print_findings(result.findings)
    for note in result.notes:
        typer.echo(f"Note: {note}", err=True)
    if result.exclude_sources:
        typer.echo(f"Skipped {result.excluded:,} pool sentences labeled already (in "
                   f"{', '.join(result.exclude_sources)})")
    shown = result.frame[["rank", "guess", "probability", "text"]].head(20).copy()
    shown["text"] = shown["text"].str.slice(0, 90)
    make_console().print(frame_table(shown.set_index("rank"),
                                 title=f"{len(result.frame)} of {result.pool_size:,} sentences "
                                       "to label next"))
    for path in result.outputs:
        typer.echo(f"Wrote {path}")
    typer.echo(f"Fill in the themes column of {out}, then: policy-themes train "
               f"<your labels> {out} --model-dir {model_dir}")


def audit_cmd(
    data: LabeledArgument,
    model_dir: ModelDirOption = Path("models/default"),
    out: AuditOutOption = Path("audit.csv"),
    report: ReportOption = None,
    top: TopOption = 20,
    folds: FoldsOption = None,
    repeats: RepeatsOption = None,
    ranking: RankingOption = Ranking.self_confidence,
    embeddings: EmbeddingsOption = False,
    taxonomy_path: TaxonomyOption = None,
    text_column: TextColumnOption = "text",
    label_column: LabelColumnOption = None,
    doc_column: DocColumnOption = None,
    encoding: EncodingOption = None,
    jobs: JobsOption = None,
) -> None:
    """Find labels that look wrong: rows the model, not having seen them, disagrees with most.

    Cross-validates the model's training config on the labeled rows, so every row gets
    probabilities from models that did not see its label: two 5-fold cross-validations with
    different folds (the second without character n-grams), averaged; the folds are not
    grouped by document, so a row is judged knowing the other labels of its document. Rows are
    ranked by the probability of their given label (self-confidence), lowest first, and
    confident learning (Northcutt et al. 2021) flags the likely issues: each theme's threshold
    is the mean probability of the theme over the rows given it, and a row is an issue when
    the model is confident in another theme by that theme's threshold. The output lists every
    row with its given label, the model's label and both probabilities.
    Cost: less than training the model (the features are fitted once); --repeats 1 about two
    thirds of it; --embeddings adds embedding every sentence and its context. Time and how
    many flipped labels the ranking finds: benchmarks/results/audit.md.

    Example:

    \b
    policy-themes audit data/labeled/ungdc.csv -m models/default --top 30
    """
    from policy_themes.rules.taxonomy import load_taxonomy
    from policy_themes.workflows.audit import audit_labels, write_audit

    taxonomy = load_taxonomy(taxonomy_path) if taxonomy_path is not None else None
    with stage_progress() as update:
        result = audit_labels(data, model=model_dir, taxonomy=taxonomy, text_column=text_column,
                              label_column=label_column, doc_column=doc_column,
                              encoding=encoding, folds=folds, repeats=repeats,
                              ranking=ranking.value,
                              embeddings=embeddings, n_jobs=jobs_or_cores(jobs), progress=update)
    written = write_audit(result, csv=out, markdown=report or out.with_suffix(".md"), top=top)
    print_findings(result.findings)
    _print_audit(result, top)
    for path in written:
        typer.echo(f"Wrote {path}")


def _print_audit(result, top: int) -> None:
    """The audit's figures and its most suspect rows, as tables."""
    from policy_themes.cli.render import figures_table, frame_table

    figures = {"labeled rows": len(result.table), "folds": result.folds,
               "cross-validations": result.repeats, "likely label issues": result.n_issues}
    console = make_console()
    console.print(figures_table(figures, title="Label audit"))
    shown = result.table[["rank", "given", "given_probability", "predicted",
                          "predicted_probability", "text"]].head(top).copy()
    shown["text"] = shown["text"].str.slice(0, 80)
    console.print(frame_table(shown.set_index("rank"), title="Most suspect labels"))


app.command("suggest")(handle_errors(suggest_cmd))
app.command("audit")(handle_errors(audit_cmd))
