"""Which labels look wrong: rank labeled rows by how much out-of-fold probabilities disagree.

:func:`rank_label_issues` is confident learning (Northcutt, Jiang & Chuang, "Confident
Learning: Estimating Uncertainty in Dataset Labels", JAIR 70, 2021) written out for one
primary label per row; :func:`audit_labels` gets the out-of-fold probabilities of a labeled
table from the audit's own cross-validation (:func:`audit_out_of_fold`) and returns the ranked
rows; :func:`write_audit` writes them as CSV and Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.errors import ConfigError
from policy_themes.workflows.audit_folds import AUDIT_FOLDS, AUDIT_REPEATS, audit_out_of_fold

__all__ = ["LabelIssues", "rank_label_issues", "class_thresholds", "confident_joint",
           "label_quality", "AuditResult", "audit_labels", "audit_out_of_fold",
           "embedding_config", "write_audit", "audit_markdown", "AUDIT_COLUMNS", "AUDIT_FOLDS",
           "AUDIT_REPEATS"]

#: The columns of the audit table, in order.
AUDIT_COLUMNS = ("rank", "row", "text", "given", "predicted", "given_probability",
                 "predicted_probability", "margin", "issue")
RANKINGS = ("margin", "self_confidence")


@dataclass
class LabelIssues:
    """Rows ranked by how likely their given label is wrong.

    Attributes
    ----------
    order : ndarray of int
        Row indices, the most suspect first (every row is ranked).
    issue : ndarray of bool
        Per row: in the off-diagonal of the confident joint (the model is confident in
        another class, by that class's own threshold).
    score : ndarray of float
        Per row: the label quality (lower is more suspect) that orders rows within each group.
    thresholds : ndarray of float
        Per class: the mean probability of the class over the rows given it.
    joint : ndarray of int
        The confident joint: ``joint[i, j]`` rows given class ``i`` that the model confidently
        puts in class ``j``.
    """

    order: np.ndarray
    issue: np.ndarray
    score: np.ndarray
    thresholds: np.ndarray
    joint: np.ndarray


def class_thresholds(proba: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Each class's threshold: the mean probability of the class over the rows labeled with
    it (the expected self-confidence, Northcutt et al. 2021, eq. 2); classes no row has get 1.

    Parameters
    ----------
    proba : ndarray of shape (n, k)
        Out-of-fold probabilities.
    given : ndarray of int of shape (n,)
        The given label of each row, as a column of ``proba``.

    Returns
    -------
    ndarray of shape (k,)
    """
    k = proba.shape[1]
    sums = np.bincount(given, weights=proba[np.arange(len(given)), given], minlength=k)
    counts = np.bincount(given, minlength=k)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


def confident_joint(proba: np.ndarray, given: np.ndarray, thresholds: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Count each row under its given class and the class the model is confident in.

    A row is confident in class ``j`` when ``proba[:, j] >= thresholds[j]``; with several such
    classes, the most probable counts; a row confident in none is left out (-1).

    Returns
    -------
    joint : ndarray of int of shape (k, k)
        ``joint[i, j]``: rows given ``i``, confidently ``j``.
    confident : ndarray of int of shape (n,)
        Each row's confident class, -1 for none.
    """
    k = proba.shape[1]
    above = proba >= thresholds[None, :] - 1e-12
    masked = np.where(above, proba, -np.inf)
    confident = np.where(above.any(axis=1), masked.argmax(axis=1), -1)
    counted = confident >= 0
    joint = np.zeros((k, k), dtype=int)
    np.add.at(joint, (given[counted], confident[counted]), 1)
    return joint, confident


def rank_label_issues(proba: np.ndarray, given: Sequence[int], *, ranking: str = "margin",
                      issues_first: bool = True) -> LabelIssues:
    """Rank rows by how likely their given label is wrong (confident learning).

    Confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating
    Uncertainty in Dataset Labels", JAIR 70:1373-1411) needs only out-of-fold probabilities:

    1. each class ``j`` gets a threshold ``t_j``, the mean out-of-fold probability of ``j``
       over the rows labeled ``j`` (:func:`class_thresholds`), so a class the model is shy
       of is judged by its own standard;
    2. a row is *confidently* in class ``j`` when ``p_j >= t_j`` (the most probable such
       class when there are several); the rows given ``i`` but confidently ``j != i`` are the
       off-diagonal of the *confident joint* (:func:`confident_joint`): the label issues;
    3. rows are ranked by a label-quality score, lowest first: the *normalized margin*
       ``p_given - max_{j != given} p_j`` (``ranking="margin"``) or the *self-confidence*
       ``p_given`` (``ranking="self_confidence"``), the paper's two orderings.

    With ``issues_first`` the off-diagonal rows come first (by score), then every other row
    (by score), so the ranking covers all rows.

    Parameters
    ----------
    proba : ndarray of shape (n, k)
        Out-of-fold probabilities (rows sum to 1).
    given : sequence of int
        The given label of each row, as a column of ``proba``.
    ranking : {"margin", "self_confidence"}, default="margin"
        The label-quality score.
    issues_first : bool, default=True
        Put the confident joint's off-diagonal rows first.

    Returns
    -------
    LabelIssues

    Examples
    --------
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9]])
    >>> rank_label_issues(proba, [0, 1, 1, 1]).order[0]
    2
    """
    proba = np.asarray(proba, dtype=float)
    given = np.asarray(given, dtype=int)
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    thresholds = class_thresholds(proba, given)
    joint, confident = confident_joint(proba, given, thresholds)
    issue = (confident >= 0) & (confident != given)
    score = label_quality(proba, given, ranking)
    keys = (score, ~issue) if issues_first else (score,)
    order = np.lexsort(keys)  # the last key sorts first: issues, then by score
    return LabelIssues(order, issue, score, thresholds, joint)


def label_quality(proba: np.ndarray, given: np.ndarray, ranking: str = "margin") -> np.ndarray:
    """Each row's label quality: its normalized margin or its self-confidence (lower: more
    suspect)."""
    rows = np.arange(len(given))
    own = proba[rows, given]
    if ranking == "self_confidence":
        return own
    others = proba.copy()
    others[rows, given] = -np.inf
    return own - others.max(axis=1)


@dataclass
class AuditResult:
    """The labeled rows ranked by how likely their given label is wrong.

    Attributes
    ----------
    table : DataFrame
        Every row, the most suspect first (:data:`AUDIT_COLUMNS`, then ``source`` when the
        rows come from several files): ``row`` is the row's line in its file, ``given`` its
        primary label, ``predicted`` the most probable class out of fold, ``margin`` the given
        label's probability minus the best other class's, ``issue`` whether confident learning
        counts it as a label issue.
    classes : list of str
        The classes of the probabilities.
    thresholds : dict of str to float
        Each class's confidence threshold (the mean out-of-fold probability of the class over
        the rows given it).
    joint : DataFrame
        The confident joint: rows given the row's class (index) that the model confidently puts
        in the column's class.
    folds : int
        Cross-validation folds.
    ranking : str
        The label-quality score rows are ordered by.
    findings : list of DataFinding
        What reading the data noticed (rows skipped, duplicates, conflicting labels).
    repeats : int
        Cross-validations averaged.
    """

    table: pd.DataFrame
    classes: list[str]
    thresholds: dict[str, float]
    joint: pd.DataFrame
    folds: int
    ranking: str
    findings: list = field(default_factory=list)
    repeats: int = 1

    @property
    def n_issues(self) -> int:
        """Rows confident learning counts as label issues."""
        return int(self.table["issue"].sum())


def audit_labels(
    data: Sequence[str | Path],
    *,
    model=None,
    config=None,
    taxonomy=None,
    text_column: str = "text",
    label_column: str | None = None,
    doc_column: str | None = None,
    encoding: str | None = None,
    folds: int | None = None,
    repeats: int | None = None,
    ranking: str = "self_confidence",
    issues_first: bool = False,
    embeddings: bool = False,
    n_jobs: int = 1,
    progress=None,
) -> AuditResult:
    """Rank labeled rows by how much out-of-fold probabilities disagree with their labels.

    The rows are read as ``train`` reads them; the audit's cross-validation
    (:func:`audit_out_of_fold`: the model's features, parameters and data weights; folds not
    grouped by document; two cross-validations averaged, the second without character
    n-grams) gives every row probabilities from models that did not see its label, and
    :func:`rank_label_issues` ranks the rows. On the shipped data with 5 % of the labels
    flipped at random, the top 10 % of the ranking holds 84 % of the flipped rows (81-86 %
    over five seeds), against 80 % for one cross-validation grouped by document and 73 % for a
    plain TF-IDF logistic regression (``benchmarks/results/audit.md``). It costs less than
    training the model: the features are fitted once and only the primary head per fold.

    Parameters
    ----------
    data : sequence of str or Path
        Labeled tables (``text`` + ``themes`` or ``theme``), or Label Studio JSON exports.
    model : ThemeModel or str or Path, default=None
        The model whose training config to cross-validate, and whose taxonomy the labels use.
    config : TrainConfig or str or Path, default=None
        Without ``model``: the training config to cross-validate (None: the shipped one).
    taxonomy : Taxonomy or str or Path, default=None
        The labels' taxonomy; None uses the model's (without a model, the shipped one).
    text_column, label_column, doc_column, encoding
        How to read the tables, as for ``train``.
    folds : int, default=None
        Folds of each cross-validation; None uses ``AUDIT_FOLDS`` (5), or the config's
        ``cv.folds`` when it has fewer (2 or more: a codebook with few examples of a theme).
    repeats : int, default=None
        Cross-validations averaged (see :func:`audit_out_of_fold`); None uses
        ``AUDIT_REPEATS`` (2). 1 costs about two thirds as much and finds fewer flipped
        labels (83 % against 84 %).
    ranking : {"self_confidence", "margin"}, default="self_confidence"
        The label-quality score (see :func:`rank_label_issues`). Self-confidence finds far
        more randomly flipped labels than the normalized margin (``benchmarks/results/audit.md``):
        a random wrong label gets a low probability, while a true but unusual one often gets a
        middling one beside a confident other theme.
    issues_first : bool, default=False
        Put the confident joint's off-diagonal rows before all others (on the shipped data
        they are more than the top 10 % of the rows, and this ordering finds fewer flipped
        labels, ``benchmarks/results/audit.md``).
    embeddings : bool, default=False
        Average in a second opinion: the same cross-validations of a model on sentence
        embeddings of each sentence and its context (:func:`embedding_config`; needs the
        ``embeddings`` extra). It costs embedding every sentence.
    n_jobs : int, default=1
        Folds fitted at once (worker processes).
    progress : callable, default=None
        Called as ``progress(stage, done, total)``.

    Returns
    -------
    AuditResult

    Raises
    ------
    DataError
        If the data is missing or malformed, a label is unknown, or there are too few rows,
        themes or documents for the folds.
    ModelError
        If the model is missing or damaged.
    ConfigError
        If ``ranking`` is not one of the two, or ``folds`` or ``repeats`` is too small.
    """
    from policy_themes.workflows.training_data import read_training_rows

    if ranking not in RANKINGS:
        raise ConfigError(f"ranking must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    config, taxonomy = _audit_setup(model, config, taxonomy)
    rows = read_training_rows([Path(p) for p in data], taxonomy, config, text_column=text_column,
                              label_column=label_column, encoding=encoding,
                              doc_column=doc_column)
    frame = rows.frame
    configs = [config, embedding_config(config)] if embeddings else [config]
    runs = [audit_out_of_fold(frame["text"].tolist(), frame["themes"].tolist(), config=c,
                              taxonomy=taxonomy, context=rows.context,
                              sample_weight=rows.weights,
                              folds=_default_folds(config) if folds is None else folds,
                              repeats=AUDIT_REPEATS if repeats is None else repeats,
                              n_jobs=n_jobs, progress=progress)
            for c in configs]
    oof = replace(runs[0], proba=np.mean([run.proba for run in runs], axis=0))
    given = [t[0] for t in frame["themes"]]
    issues = rank_label_issues(oof.proba, [oof.classes.index(g) for g in given],
                               ranking=ranking, issues_first=issues_first)
    table = _audit_table(frame, rows.locations, given, oof, issues)
    joint = pd.DataFrame(issues.joint, index=oof.classes, columns=oof.classes)
    thresholds = {c: round(float(t), 4) for c, t in zip(oof.classes, issues.thresholds)}
    return AuditResult(table, oof.classes, thresholds, joint, oof.folds, ranking, rows.findings,
                       repeats=AUDIT_REPEATS if repeats is None else repeats)


def _default_folds(config) -> int:
    """``AUDIT_FOLDS``, or the config's folds when it has fewer (and at least 2)."""
    return config.cv.folds if 2 <= config.cv.folds < AUDIT_FOLDS else AUDIT_FOLDS


def _audit_setup(model, config, taxonomy):
    """The config and taxonomy to cross-validate: the model's, or those given."""
    from policy_themes.config import TrainConfig, load_train_config, train_config_from_mapping
    from policy_themes.model.theme_model import ThemeModel, load_model
    from policy_themes.rules.taxonomy import Taxonomy, load_taxonomy

    if taxonomy is not None and not isinstance(taxonomy, Taxonomy):
        taxonomy = load_taxonomy(taxonomy)
    if model is None:
        config = config if isinstance(config, TrainConfig) else load_train_config(config)
        return config, taxonomy or load_taxonomy()
    model = model if isinstance(model, ThemeModel) else load_model(model)
    taxonomy = taxonomy or model.taxonomy()
    model.check_taxonomy(taxonomy)
    source = f"{model.path or model.name}/model.json"
    return train_config_from_mapping(model.meta.get("config", {}), source), taxonomy


def embedding_config(config):
    """The second opinion of ``audit_labels(embeddings=True)``: ``config`` with only the
    sentence-embedding blocks (of the sentence, and of its context when ``config`` reads
    context) and ``clf__C`` 1 (C 10 overfits the dense columns). Averaged with the model's
    own out-of-fold probabilities (folds grouped by document) it found 86 % of randomly
    flipped labels in the top 10 %, against 80 % without it (``benchmarks/results/audit.md``)."""
    from policy_themes.config import CONTEXT_FEATURES

    features = {name: False for name in config.features}
    features["embeddings"] = True
    features["context_embeddings"] = any(config.features.get(n) for n in CONTEXT_FEATURES)
    return replace(config, features=features, params={**config.params, "clf__C": 1.0})


def _audit_table(frame: pd.DataFrame, locations, given, oof, issues: LabelIssues) -> pd.DataFrame:
    """The ranked rows with what the model thinks of each."""
    order = issues.order
    proba = oof.proba[order]
    classes = np.asarray(oof.classes, dtype=object)
    given_index = np.array([oof.classes.index(g) for g in given])[order]
    best = proba.argmax(axis=1)
    own = proba[np.arange(len(order)), given_index]
    others = proba.copy()
    others[np.arange(len(order)), given_index] = -np.inf
    table = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "row": [locations[i][1] for i in order],
        "text": frame["text"].to_numpy()[order],
        "given": classes[given_index],
        "predicted": classes[best],
        "given_probability": np.round(own, 4),
        "predicted_probability": np.round(proba[np.arange(len(order)), best], 4),
        "margin": np.round(own - others.max(axis=1), 4),
        "issue": issues.issue[order],
    })
    sources = [locations[i][0] for i in order]
    if len(set(sources)) > 1:
        table["source"] = sources
    return table


def write_audit(result: AuditResult, *, csv: str | Path | None = None,
                markdown: str | Path | None = None, top: int = 50) -> list[Path]:
    """Write an audit: every ranked row as a table (CSV, TSV, JSONL or Parquet by extension)
    and a Markdown report of the ``top`` most suspect rows.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    DataError
        If a file cannot be written.
    """
    from policy_themes.io.writers import AtomicTableWriter, atomic_write_text

    written = []
    if csv is not None:
        with AtomicTableWriter(csv) as writer:
            writer.write(result.table)
        written.append(Path(csv))
    if markdown is not None:
        atomic_write_text(markdown, audit_markdown(result, top=top))
        written.append(Path(markdown))
    return written


_RANKING_TEXT = {"self_confidence": "self-confidence (the probability of the given label)",
                 "margin": "normalized margin (the given label's probability minus the best "
                           "other class's)"}


def _cross_validations(result: AuditResult) -> str:
    """How the audit's probabilities were made, in words."""
    if result.repeats == 1:
        return f"a {result.folds}-fold cross-validation"
    return f"{result.repeats} {result.folds}-fold cross-validations averaged"


def audit_markdown(result: AuditResult, *, top: int = 50) -> str:
    """The audit as Markdown: what was done, and the ``top`` most suspect rows."""
    table = result.table
    n = len(table)
    lines = [
        "# Label audit",
        "",
        f"{n:,} labeled rows, each scored by models that did not see its label "
        f"({_cross_validations(result)} with the model's training config). Confident "
        f"learning (Northcutt et al. 2021) counts {result.n_issues:,} rows "
        f"({result.n_issues / max(n, 1):.1%}) as likely label issues: the model is confident "
        "in another theme by that theme's own threshold. Rows are ordered by "
        f"{_RANKING_TEXT[result.ranking]}, lowest first.",
        "",
        f"## The {min(top, n)} most suspect rows",
        "",
        "| rank | row | text | given | p(given) | model | p(model) | issue |",
        "|---:|---:|---|---|---:|---|---:|:---:|",
    ]
    for item in table.head(top).itertuples(index=False):
        text = " ".join(str(item.text).split()).replace("|", "\\|")
        where = f"{item.source}:{item.row}" if "source" in table.columns else str(item.row)
        lines.append(f"| {item.rank} | {where} | {text} | {item.given} | "
                     f"{item.given_probability:.3f} | {item.predicted} | "
                     f"{item.predicted_probability:.3f} | {'yes' if item.issue else ''} |")
    return "\n".join(lines) + "\n"
