"""Evaluate a model on a labeled table, beside the rules alone and the majority class."""

from __future__ import annotations

from pathlib import Path

from policy_themes.errors import DataError
from policy_themes.evaluation.metrics import compute_metrics, majority_baseline
from policy_themes.evaluation.report import EvalReport

__all__ = ["evaluate"]


def _predictions_frame(columns: dict):
    import pandas as pd

    return pd.DataFrame(columns)


def evaluate(
    model,
    data: str | Path,
    *,
    taxonomy=None,
    text_column: str = "text",
    label_column: str | None = None,
    doc_column: str | None = None,
    encoding: str | None = None,
    out_dir: str | Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> EvalReport:
    """Evaluate a model on a labeled file, beside the rules alone and the majority class.

    Parameters
    ----------
    model : ThemeModel or str or Path
        A loaded model or its directory.
    data : str or Path
        A labeled table (``text`` and ``themes`` or ``theme``).
    taxonomy : Taxonomy, default=None
        The taxonomy of the labels and of the rules baseline; None uses the model's own.
    text_column : str, default="text"
        Text column of the table.
    label_column : str, default=None
        Label column; None looks for ``themes``, then ``theme``.
    doc_column : str, default=None
        Column naming each sentence's document; None takes the first of the model's
        ``context.document_columns`` present (:func:`find_document_column`,
        the rule ``predict`` follows too).
    encoding : str, default=None
        Table encoding.
    out_dir : str or Path, default=None
        Write ``report.md``, ``report.json`` and ``confusion.png`` here.
    n_boot : int, default=1000
        Bootstrap resamples for the 95 % intervals.
    seed : int, default=0
        Bootstrap seed.

    Returns
    -------
    EvalReport

    Notes
    -----
    A model trained with context features reads each sentence's context from the table as it
    did in training: the context columns, else the neighbouring rows of the same document. A
    table with neither gets a finding saying the context is off.

    Raises
    ------
    ModelError
        If the model is missing or was built for another taxonomy.
    DataError
        If the data file is missing, malformed, has unknown theme ids or no text, or
        ``out_dir`` is a model directory. Rows with blank or missing text are skipped and
        reported in the report's ``findings``.
    """
    from datetime import date

    from policy_themes.io.labels import DataFinding, blank_rows_finding, read_labeled_table
    from policy_themes.model.store import META_FILE
    from policy_themes.model.theme_model import ThemeModel, load_model

    if out_dir is not None and (Path(out_dir) / META_FILE).exists():
        raise DataError(f"{out_dir}: is a model directory and its training report would be "
                        "overwritten; write the report elsewhere (--out)")
    model = model if isinstance(model, ThemeModel) else load_model(model)
    taxonomy = taxonomy or model.taxonomy()
    model.check_taxonomy(taxonomy)
    table = read_labeled_table(data, taxonomy, text_column=text_column,
                               label_column=label_column, encoding=encoding)
    frame = table.frame
    blank = blank_rows_finding({table.source: table.skipped} if table.skipped else {})
    if not len(frame):
        raise DataError(f"no text to evaluate: {blank.message}")
    texts = frame["text"].tolist()
    gold = frame["themes"].tolist()
    context = model.context_for(frame, doc_column=doc_column)
    primary, sets, proba, _ = model.predict_arrays(texts, context)
    no_context = model.context_note(frame.columns, str(data), doc_column=doc_column)
    findings = [f for f in (blank,) if f]
    if no_context is not None:
        findings.insert(0, DataFinding("no_context", no_context, len(frame)))
    metrics = compute_metrics(gold, primary, sets, proba, model.classes, n_boot=n_boot,
                              seed=seed)
    baselines = _baselines(model, taxonomy, texts, gold, n_boot=n_boot, seed=seed)
    report = EvalReport(
        metrics=metrics, baselines=baselines, texts=texts,
        title=f"Evaluation of {model.name} on {Path(data).name}",
        meta={"model": str(model.path or model.name), "data": str(data),
              "date": date.today().isoformat(),
              "trained on": _training_data(model.meta),
              **({"skipped (blank text)": blank.count} if blank else {})},
        findings=findings,
        predictions=_predictions_frame({"text": texts, "gold": [";".join(g) for g in gold],
                                  "primary": list(primary),
                                  "themes": [";".join(t) for t in sets]}),
    )
    if out_dir is not None:
        report.write(out_dir)
    return report


def _baselines(model, taxonomy, texts: list[str], gold: list, *, n_boot: int, seed: int
               ) -> dict[str, dict]:
    """The figures of the taxonomy's rules alone and of always answering the model's
    majority theme, on the same sentences."""
    from policy_themes.rules.labeling import label_sentences

    classes = model.classes
    rules = label_sentences(texts, taxonomy)
    baselines = {"rules alone": compute_metrics(gold, rules.primary, rules.themes, None, classes,
                                                n_boot=n_boot, seed=seed)}
    majority = model.majority_theme()
    if majority is not None:
        m_primary, m_sets, m_proba = majority_baseline([majority], len(texts), classes)
        baselines["majority class"] = compute_metrics(gold, m_primary, m_sets, m_proba, classes,
                                                      n_boot=n_boot, seed=seed)
    return baselines


def _training_data(meta: dict) -> str:
    """What the model was trained on, for a person: the shipped data by that name."""
    from policy_themes.resources import describe_data_files

    data = meta.get("training_data", {})
    return describe_data_files(data.get("files", []), data.get("sentences"))
