"""The accuracy report a person reads: :class:`EvalReport` renders the dicts of
:func:`~policy_themes.evaluation.metrics.compute_metrics` as Markdown, JSON and a
confusion-matrix picture and writes the three files atomically.
"""


from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policy_themes.errors import DataError
from policy_themes.io.writers import atomic_path
from policy_themes.jsondata import json_data

__all__ = ["EvalReport"]

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
CONFUSION_PNG = "confusion.png"
EXAMPLE_CHARS = 160
WEAK_F1 = 0.5
FEW_SUPPORT = 10
_FILE_MODE = 0o644
_MARKUP = set("\\`*_<>[]#|")

# (key, label in the headline table, higher is better, key of its interval or None)
_HEADLINE = [
    ("accuracy", "Accuracy (primary)", True, "accuracy_ci"),
    ("macro_f1", "Macro-F1 (primary)", True, "macro_f1_ci"),
    ("weighted_f1", "Weighted F1 (primary)", True, None),
    ("top3_accuracy", "Top-3 accuracy", True, None),
    ("set_micro_f1", "Theme-set micro-F1", True, "set_micro_f1_ci"),
    ("subset_accuracy", "Theme-set exact match", True, None),
    ("hamming_loss", "Hamming loss", False, None),
    ("brier", "Brier score", False, None),
    ("ece", "Calibration error (ECE)", False, None),
]

_HOW_TO_READ = (
    "*Accuracy* is the share of sentences whose predicted primary theme equals the gold primary "
    "theme (`none` counts as a theme here); the bracket is a 95 % bootstrap interval over "
    "sentences, so two systems whose intervals overlap widely may not really differ. *Macro-F1* "
    "averages the per-theme F1 with every theme weighted equally, so it drops when rare themes "
    "fail; *weighted F1* weights themes by their number of gold sentences. *Top-3 accuracy* says "
    "how often the gold primary is among the three most probable themes (useful when a person "
    "picks from suggestions). The *theme-set* figures compare all themes of a sentence, `none` "
    "left out: micro-F1 over (sentence, theme) pairs, exact match of the whole set, and Hamming "
    "loss, the share of (sentence, theme) decisions that are wrong (lower is better). The *Brier "
    "score* (0 is perfect, 2 the worst) and the *expected calibration error* (0 is perfect) say "
    "whether the probabilities can be trusted: an ECE of 0.10 means the stated confidence is off "
    "by ten points on average. In the per-theme table the weakest themes come first; a theme with "
    f"fewer than {FEW_SUPPORT} gold sentences has a very uncertain F1, so read it with care. The "
    "confusion matrix shows gold themes in rows and predicted themes in columns: the right panel "
    "divides each row by its total, so a dark cell off the diagonal is a systematic mistake."
)


@dataclass
class EvalReport:
    """An accuracy report: the model's figures, baselines to compare with, and the sentences.

    Parameters
    ----------
    metrics : dict
        :func:`compute_metrics` output for the model.
    baselines : dict
        Name (e.g. ``"rules"``, ``"majority"``) to a :func:`compute_metrics`-style dict; may be
        empty.
    texts : list of str
        The evaluated sentences, in the order of the metrics, for example sentences; may be empty.
    title : str, default="Evaluation"
        Heading of the report.
    meta : dict
        Facts shown at the top: model name, data path, date and so on.
    findings : list of DataFinding
        What was noticed in the data without stopping (rows skipped for blank text).
    predictions : DataFrame, default=None
        Each evaluated sentence's ``text``, ``gold`` themes, predicted ``primary`` and ``themes``
        (ids joined by ``;``), as :func:`evaluate` made them; not part of the written report.

    Examples
    --------
    >>> m = compute_metrics([["a"]], ["a"], [["a"]], None, ["a", "none"], n_boot=0)
    >>> EvalReport(m, {}, ["A sentence."]).to_dict()["metrics"]["accuracy"]
    1.0
    """

    metrics: dict
    baselines: dict
    texts: list[str]
    title: str = "Evaluation"
    meta: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)
    predictions: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """Everything as plain JSON-ready data; confusions also carry their example sentences."""
        metrics = dict(self.metrics)
        metrics["confusions"] = [
            {**c, "example_texts": [self._text(i) for i in c.get("examples", [])]}
            for c in self.metrics.get("confusions", [])
        ]
        return json_data({
            "title": self.title,
            "meta": self.meta,
            "metrics": metrics,
            "baselines": self.baselines,
        })

    def to_json(self) -> str:
        """The report as a JSON document (NaN written as ``null``)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        """The report as Markdown: headline, comparison, weak themes, confusions, how to read.

        Raises
        ------
        DataError
            If ``texts`` is neither empty nor one sentence per evaluated sentence.
        """
        self._check_texts()
        parts = [
            f"# {self.title}",
            _meta_lines(self.meta, self.metrics),
            "## At a glance\n\n" + _glance(self.metrics, self.baselines),
            "## Headline figures\n\n" + _headline_table(self.metrics, self.baselines),
            "## Per theme (primary theme), weakest first\n\n" + _theme_section(self.metrics),
            "## Most frequent confusions\n\n" + self._confusion_section(),
            "## Theme-set errors\n\n" + self._set_error_section(),
            "## Confusion matrix\n\n"
            f"![Confusion matrix: counts and row-normalised]({CONFUSION_PNG})\n\n"
            "Rows are gold primary themes, columns predicted ones; the right panel shows each row "
            "as shares of its gold sentences (the diagonal is the recall of each theme).",
            "## How to read this\n\n" + _HOW_TO_READ,
        ]
        return "\n\n".join(p for p in parts if p) + "\n"

    def write(self, directory) -> dict[str, Path]:
        """Write ``report.md``, ``report.json`` and ``confusion.png`` into ``directory``.

        All three files are rendered to temporary files beside their targets first and renamed
        over them only when every one is complete, so a failure leaves an earlier report intact.

        Parameters
        ----------
        directory : str or Path
            Output folder; created with its parents if missing.

        Returns
        -------
        dict of str to Path
            ``{"markdown": ..., "json": ..., "png": ...}``.

        Raises
        ------
        DataError
            If the path is a file, or it cannot be created or written.
        """
        directory = Path(directory)
        created = _prepare_directory(directory)
        targets = {
            "markdown": directory / REPORT_MD,
            "json": directory / REPORT_JSON,
            "png": directory / CONFUSION_PNG,
        }
        temporary: dict[str, Path] = {}
        try:
            for key, target in targets.items():
                temporary[key] = atomic_path(target)
            temporary["markdown"].write_text(self.to_markdown(), encoding="utf-8")
            temporary["json"].write_text(self.to_json(), encoding="utf-8")
            _plot_confusion(self.metrics["confusion_matrix"], temporary["png"], self.title)
            for key, target in targets.items():
                os.chmod(temporary[key], _FILE_MODE)  # mkstemp makes 0600 files
                os.replace(temporary[key], target)
        except BaseException as exc:
            for path in temporary.values():
                with contextlib.suppress(OSError):
                    path.unlink()
            if created:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            if isinstance(exc, OSError):  # a full disk, a folder made read-only meanwhile
                raise DataError(f"{directory}: cannot write the report "
                                f"({exc.strerror or exc})") from None
            raise
        return targets

    def _text(self, index: int) -> str | None:
        """The sentence at ``index``, or None when texts were not given."""
        return self.texts[index] if 0 <= index < len(self.texts) else None

    def _check_texts(self) -> None:
        """Refuse texts that do not line up with the evaluated sentences."""
        n = self.metrics.get("n")
        if self.texts and n is not None and len(self.texts) != n:
            raise DataError(
                f"report texts do not match the metrics: {len(self.texts)} sentences given, "
                f"{n} evaluated"
            )

    def _set_error_section(self) -> str:
        """The themes most often missed from or added to the theme sets, with examples."""
        errors = self.metrics.get("set_errors", [])
        if not errors:
            return "No errors: every theme set is right."
        lines = []
        for rank, e in enumerate(errors, 1):
            verb = "missed in" if e["error"] == "missed" else "added to"
            lines.append(f"{rank}. **`{e['theme']}`** {verb} the theme set of {e['count']} "
                         f"sentence{'s' if e['count'] != 1 else ''}")
            indent = " " * len(f"{rank}. ")
            for i in e.get("examples", []):
                text = self._text(i)
                quoted = f"“{_escape(_shorten(text))}”" if text is not None else "(text not given)"
                lines.append(f"{indent}- #{i}: {quoted}")
        return "\n".join(lines)

    def _confusion_section(self) -> str:
        """A numbered list of confusions, each with quoted example sentences."""
        confusions = self.metrics.get("confusions", [])
        if not confusions:
            return "No errors: every primary theme is right."
        n = self.metrics.get("n") or 0
        lines = []
        for rank, c in enumerate(confusions, 1):
            share = f", {_pct(c['count'] / n)} of all sentences" if n else ""
            lines.append(
                f"{rank}. gold **`{c['gold']}`** predicted as **`{c['predicted']}`**: "
                f"{c['count']} sentence{'s' if c['count'] != 1 else ''}{share}"
            )
            indent = " " * len(f"{rank}. ")
            for i in c.get("examples", []):
                text = self._text(i)
                quoted = f"“{_escape(_shorten(text))}”" if text is not None else "(text not given)"
                lines.append(f"{indent}- #{i}: {quoted}")
        return "\n".join(lines)


def _prepare_directory(directory: Path) -> bool:
    """Create the output folder and its parents if needed; return whether it was created."""
    if directory.is_dir():
        return False
    if directory.exists():
        raise DataError(f"{directory}: exists and is not a folder; choose another report folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{directory}: cannot create the report folder ({exc.strerror or exc})") \
            from None
    return True


# ---------------------------------------------------------------------------------------------
# Markdown helpers


def _meta_lines(meta: dict, metrics: dict) -> str:
    """Bullet list of the report's facts, the number of sentences last."""
    lines = [f"- **{key}**: {value}" for key, value in meta.items()]
    lines.append(f"- **sentences evaluated**: {metrics.get('n', 'n/a')}")
    return "\n".join(lines)


def _glance(metrics: dict, baselines: dict) -> str:
    """Three or four sentences: how good the model is, against what, and where it fails."""
    n = metrics.get("n", 0)
    sentences = [
        f"The model gets the primary theme right for **{_pct(metrics.get('accuracy'))}** of "
        f"{n} sentences (95 % CI {_pct_range(metrics.get('accuracy_ci'))}); "
        f"macro-F1 is **{_num(metrics.get('macro_f1'))}**."
    ]
    if baselines:
        compared = ", ".join(
            f"{name} {_pct(b.get('accuracy'))}" for name, b in baselines.items()
        )
        sentences.append(f"Baselines on the same sentences: {compared}.")
    weak = [t for t in _weakest(metrics.get("per_theme", [])) if _is_weak(t)][:3]
    if weak:
        listed = ", ".join(f"`{t['theme']}` (F1 {_num(t['f1'])})" for t in weak)
        sentences.append(f"Weakest themes: {listed}.")
    confusions = metrics.get("confusions", [])
    if confusions:
        top = confusions[0]
        sentences.append(
            f"Most frequent error: `{top['gold']}` predicted as `{top['predicted']}` "
            f"({_times(top['count'])})."
        )
    return " ".join(sentences)


def _headline_table(metrics: dict, baselines: dict) -> str:
    """Rows of figures, a column per system, the best value of each row in bold."""
    systems = {"model": metrics, **baselines}
    header = "| figure | " + " | ".join(systems) + " |"
    lines = [header, "|---|" + "---:|" * len(systems)]
    for key, label, higher, ci_key in _HEADLINE:
        values = [_as_float(s.get(key)) for s in systems.values()]
        best = _best(values, higher) if len(systems) > 1 else None
        cells = []
        for value, system in zip(values, systems.values()):
            cell = _num(value)
            if value is not None and value == best:
                cell = f"**{cell}**"
            if ci_key and _has_interval(system.get(ci_key)):
                cell += f" [{_num(system[ci_key][0])}, {_num(system[ci_key][1])}]"
            cells.append(cell)
        arrow = "↑" if higher else "↓"
        lines.append(f"| {label} {arrow} | " + " | ".join(cells) + " |")
    bold = "the best value of each row is in bold; " if len(systems) > 1 else ""
    lines.append("")
    lines.append(f"↑ higher is better, ↓ lower is better; {bold}brackets are 95 % bootstrap "
                 "intervals; n/a = not available (no probabilities, or no theme in any set).")
    return "\n".join(lines)


def _times(count: int) -> str:
    """'once', 'twice' or 'N times'."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _theme_section(metrics: dict) -> str:
    """The per-theme table, weakest first, with a note on each weak or thin theme."""
    rows = metrics.get("per_theme", [])
    shown = [r for r in rows if r.get("support", 0) or r.get("predicted", 0)]
    absent = [r["theme"] for r in rows if r not in shown]
    lines = ["| theme | precision | recall | F1 | support | predicted | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for row in _weakest(shown):
        lines.append(
            f"| `{row['theme']}` | {_num(row['precision'])} | {_num(row['recall'])} | "
            f"{_num(row['f1'])} | {row['support']} | {row.get('predicted', '')} | "
            f"{_theme_note(row)} |"
        )
    lines += ["", f"⚠ marks F1 below {WEAK_F1}, a theme the model never predicts, or one it "
              "predicts although no gold sentence has it; support = gold sentences with this "
              "primary theme, predicted = sentences given it as primary."]
    if absent:
        lines.append(f"Not in this evaluation set and never predicted: "
                     f"{', '.join(f'`{t}`' for t in absent)}.")
    return "\n".join(lines)


def _theme_note(row: dict) -> str:
    """Short warnings for one per-theme row."""
    notes = []
    if row.get("support", 0) and not row.get("predicted", 0):
        notes.append("⚠ never predicted")
    elif not row.get("support", 0):
        notes.append("⚠ predicted, never in gold")
    elif _is_weak(row):
        notes.append("⚠ weak")
    if 0 < row.get("support", 0) < FEW_SUPPORT:
        notes.append("few examples")
    return "; ".join(notes)


def _weakest(rows: list[dict]) -> list[dict]:
    """Rows sorted by F1, lowest first (undefined F1 last), then by support, largest first."""
    def key(row):
        f1 = _as_float(row.get("f1"))
        return (f1 is None, f1 if f1 is not None else 0.0, -row.get("support", 0))
    return sorted(rows, key=key)


def _is_weak(row: dict) -> bool:
    """Whether a theme's F1 is below the weak threshold."""
    f1 = _as_float(row.get("f1"))
    return f1 is not None and f1 < WEAK_F1


def _best(values: list[float | None], higher: bool) -> float | None:
    """The best defined value of a row."""
    defined = [v for v in values if v is not None]
    if not defined:
        return None
    return max(defined) if higher else min(defined)


def _has_interval(value) -> bool:
    """Whether a [low, high] interval is present and defined."""
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(_as_float(v) is not None for v in value))


def _as_float(value) -> float | None:
    """A number as float, or None when missing or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _num(value) -> str:
    """A figure with three decimals, or n/a."""
    value = _as_float(value)
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value) -> str:
    """A share as a percentage, or n/a."""
    value = _as_float(value)
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _pct_range(interval) -> str:
    """An interval as a percentage range, or n/a."""
    if not _has_interval(interval):
        return "n/a"
    return f"{_pct(interval[0])}–{_pct(interval[1])}"


def _shorten(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """One line of at most ``limit`` characters, cut at a word with an ellipsis."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(",;:") + "…"


def _escape(text: str) -> str:
    """Escape the characters that Markdown would read as markup in a quoted sentence."""
    return "".join("\\" + ch if ch in _MARKUP else ch for ch in text)


# ---------------------------------------------------------------------------------------------
# the picture


def _plot_confusion(matrix: dict, path: Path, title: str) -> None:
    """Draw the confusion matrix, counts and row-normalised side by side, as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = matrix["labels"]
    counts = np.asarray(matrix["counts"], dtype=float).reshape(len(labels), len(labels))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    figure = Figure(figsize=(16, 7), dpi=110)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    _draw_panel(figure, left, counts, labels, "Counts", "{:.0f}")
    _draw_panel(figure, right, shares, labels, "Share of each gold theme (row-normalised)",
                "{:.2f}", vmax=1.0)
    figure.suptitle(f"{title}: confusion matrix of the primary theme", fontsize=12)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)


def _draw_panel(figure, ax, values: np.ndarray, labels: list[str], title: str, fmt: str,
                vmax: float | None = None) -> None:
    """One heat-map panel with theme labels on both axes and the values in the cells."""
    k = len(labels)
    top = vmax if vmax is not None else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=top, aspect="auto")
    figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    font = 9 if k <= 10 else 7
    ax.set_xticks(range(k), labels=labels, rotation=40, ha="right", rotation_mode="anchor",
                  fontsize=font)
    ax.set_yticks(range(k), labels=labels, fontsize=font)
    ax.set_xlabel("predicted primary theme")
    ax.set_ylabel("gold primary theme")
    ax.set_title(title, fontsize=11)
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if values[i, j] > 0:
                    dark = values[i, j] > 0.6 * top
                    ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center",
                            fontsize=font - 1, color="white" if dark else "black")
