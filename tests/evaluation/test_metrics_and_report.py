import json
import math
import struct

import numpy as np
import pytest
from sklearn.metrics import f1_score

from policy_themes.errors import ConfigError, DataError
from policy_themes.evaluation import metrics as metrics_module
from policy_themes.evaluation import report as report_module
from policy_themes.evaluation.metrics import compute_metrics, majority_baseline
from policy_themes.evaluation.report import EvalReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["a", "b", "c", "none"]
GOLD = [["a"], ["a", "b"], ["b"], ["c"], ["none"], ["b", "c"]]
PRIMARY = ["a", "a", "a", "b", "none", "a"]
THEMES = [["a", "c"], ["a"], ["a", "b"], ["b"], ["none"], ["a", "b"]]
# columns a, b, c, none; the most probable class equals PRIMARY on every row
PROBA = np.array(
    [
        [0.72, 0.10, 0.08, 0.10],  # gold a: right, confidence .72
        [0.62, 0.28, 0.10, 0.00],  # gold a: right, .62
        [0.55, 0.35, 0.00, 0.10],  # gold b: wrong, .55
        [0.10, 0.45, 0.25, 0.20],  # gold c: wrong, .45; c is 2nd, in the top 3
        [0.04, 0.05, 0.08, 0.83],  # gold none: right, .83
        [0.42, 0.05, 0.23, 0.30],  # gold b: wrong, .42; b is last, not in the top 3
    ]
)
TEXTS = [
    "Oil and gas deals were signed.",
    "The treaty bans the pipeline and the border talks.",
    "Talks with the neighbour went well.",
    "The court ruled on the *border* dispute.",
    "Good morning.",
    "Both ministers " + "discussed the very long agenda " * 10 + "END-OF-SENTENCE.",
]


@pytest.fixture(scope="module")
def metrics():
    return compute_metrics(GOLD, PRIMARY, THEMES, PROBA, CLASSES, n_boot=200, seed=3)


@pytest.fixture
def report(metrics):
    baseline = compute_metrics(GOLD, *majority_baseline(["a", "b", "a"], 6, CLASSES), CLASSES,
                               n_boot=200)
    return EvalReport(metrics, {"majority": baseline}, TEXTS, title="Test eval",
                      meta={"model": "toy", "data": "gold.csv"})


def test_primary_accuracy_and_f1_match_hand_counts(metrics):
    assert metrics["n"] == 6
    # right on sentences 0, 1 and 4
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    # F1 per label: a 2/3 (P 2/4, R 2/2), b 0, c 0 (never predicted), none 1 (P 1, R 1)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0 + 0 + 1) / 4)
    # weighted by gold support a 2, b 2, c 1, none 1
    assert metrics["weighted_f1"] == pytest.approx((2 * 2 / 3 + 1 * 1) / 6)


def test_per_theme_rows_follow_classes_and_leave_undefined_figures_nan(metrics):
    rows = {r["theme"]: r for r in metrics["per_theme"]}
    assert [r["theme"] for r in metrics["per_theme"]] == CLASSES
    assert rows["a"]["precision"] == pytest.approx(0.5)
    assert rows["a"]["recall"] == pytest.approx(1.0)
    assert rows["a"]["support"] == 2
    assert rows["a"]["predicted"] == 4
    # c is never predicted: precision undefined, recall and F1 zero
    assert math.isnan(rows["c"]["precision"])
    assert rows["c"]["recall"] == 0.0
    assert rows["c"]["f1"] == 0.0


def test_top3_accuracy(metrics):
    # the gold primary is in the top 3 on every row but the last
    assert metrics["top3_accuracy"] == pytest.approx(5 / 6)


def test_theme_set_metrics_match_hand_counts(metrics):
    # label space a, b, c (none left out): 6 x 3 = 18 decisions
    # errors: s0 c extra, s1 b missing, s2 a extra, s3 b extra + c missing, s5 a extra + c missing
    assert metrics["hamming_loss"] == pytest.approx(7 / 18)
    # only s4 (none == none) matches exactly
    assert metrics["subset_accuracy"] == pytest.approx(1 / 6)
    # TP 4, FP 4, FN 3 -> 2*4 / (2*4 + 4 + 3)
    assert metrics["set_micro_f1"] == pytest.approx(8 / 15)
    # a: TP 2 FP 2 FN 0 -> 2/3; b: TP 2 FP 1 FN 1 -> 2/3; c: TP 0 -> 0
    assert metrics["set_macro_f1"] == pytest.approx(4 / 9)


def test_brier_score_matches_hand_count(metrics):
    # per row, sum over classes of (p - onehot)^2:
    # .0784+.01+.0064+.01 = .1048; .1444+.0784+.01 = .2328; .3025+.4225+.01 = .735;
    # .01+.2025+.5625+.04 = .815; .0016+.0025+.0064+.0289 = .0394; .1764+.9025+.0529+.09 = 1.2218
    expected = (0.1048 + 0.2328 + 0.735 + 0.815 + 0.0394 + 1.2218) / 6
    assert metrics["brier"] == pytest.approx(expected)


def test_ece_matches_hand_count(metrics):
    # bins (.4,.5]: s3, s5 wrong, mean conf .435 -> 2 * .435; (.5,.6]: s2 wrong -> .55;
    # (.6,.7]: s1 right -> .38; (.7,.8]: s0 right -> .28; (.8,.9]: s4 right -> .17
    assert metrics["ece"] == pytest.approx((0.87 + 0.55 + 0.38 + 0.28 + 0.17) / 6)


def test_ece_averages_within_a_bin():
    classes = ["a", "b", "c", "none"]
    proba = [[0.85, 0.05, 0.05, 0.05], [0.85, 0.05, 0.05, 0.05], [0.25, 0.25, 0.25, 0.25]]
    gold = [["a"], ["b"], ["b"]]
    m = compute_metrics(gold, ["a", "a", "a"], [["a"]] * 3, np.array(proba), classes, n_boot=0)
    # bin (.8,.9]: accuracy 1/2, confidence .85 -> 2 * .35; bin (.2,.3]: wrong, .25 -> .25
    assert m["ece"] == pytest.approx((0.7 + 0.25) / 3)


def test_bootstrap_interval_contains_estimate_and_is_reproducible(metrics):
    low, high = metrics["accuracy_ci"]
    assert low <= metrics["accuracy"] <= high
    low, high = metrics["macro_f1_ci"]
    assert low <= metrics["macro_f1"] <= high
    again = compute_metrics(GOLD, PRIMARY, THEMES, PROBA, CLASSES, n_boot=200, seed=3)
    assert again["accuracy_ci"] == metrics["accuracy_ci"]
    assert again["macro_f1_ci"] == metrics["macro_f1_ci"]
    none = compute_metrics(GOLD, PRIMARY, THEMES, PROBA, CLASSES, n_boot=0)
    assert all(math.isnan(v) for v in none["accuracy_ci"])


def test_fast_bootstrap_f1_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 5, size=60)
    pred = np.where(rng.random(60) < 0.6, gold, rng.integers(0, 6, size=60))
    accuracy, macro = metrics_module._accuracy_macro_f1(gold, pred, 6)
    assert accuracy == pytest.approx(np.mean(gold == pred))
    assert macro == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))


def test_confusions_and_confusion_matrix(metrics):
    first, second = metrics["confusions"]
    assert first == {"gold": "b", "predicted": "a", "count": 2, "examples": [2, 5]}
    assert second == {"gold": "c", "predicted": "b", "count": 1, "examples": [3]}
    matrix = metrics["confusion_matrix"]
    assert matrix["labels"] == CLASSES
    assert matrix["counts"] == [[2, 0, 0, 0], [2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]


def test_confusion_examples_stop_at_three():
    gold = [["b"]] * 5
    m = compute_metrics(gold, ["a"] * 5, [["a"]] * 5, None, ["a", "b"], n_boot=0)
    assert m["confusions"] == [{"gold": "b", "predicted": "a", "count": 5, "examples": [0, 1, 2]}]


def test_without_proba_probability_figures_are_nan_and_json_null():
    m = compute_metrics(GOLD, PRIMARY, THEMES, None, CLASSES, n_boot=10)
    assert all(math.isnan(m[k]) for k in ("top3_accuracy", "brier", "ece"))
    data = json.loads(EvalReport(m, {}, TEXTS).to_json())
    assert data["metrics"]["brier"] is None
    assert data["metrics"]["accuracy"] == pytest.approx(0.5)


def test_all_none_sets_match_exactly():
    m = compute_metrics([["none"], ["none"]], ["none", "none"], [["none"], []], None,
                        ["a", "none"], n_boot=0)
    assert m["subset_accuracy"] == 1.0
    assert m["hamming_loss"] == 0.0
    assert math.isnan(m["set_micro_f1"])


def test_majority_baseline_predicts_most_frequent_training_theme():
    primary, themes, proba = majority_baseline(["a", "b", "b", "none"], 3, CLASSES)
    assert primary == ["b", "b", "b"]
    assert themes == [["b"], ["b"], ["b"]]
    assert proba.tolist() == [[0.0, 1.0, 0.0, 0.0]] * 3
    # a tie goes to the class listed first
    assert majority_baseline(["c", "a"], 1, CLASSES)[0] == ["a"]
    with pytest.raises(DataError, match="no training labels"):
        majority_baseline([], 3, CLASSES)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"primary": PRIMARY[:5]}, DataError, "gold has 6 sentences, primary 5"),
        ({"proba": PROBA[:, :3]}, DataError, r"shape .* \(6, 4\)"),
        ({"proba": PROBA * 2}, DataError, "sum to 1"),
        ({"gold": ["a"] * 6}, DataError, r"gold\[0\] is the string"),
        ({"n_boot": -1}, ConfigError, "n_boot"),
        ({"gold": [], "primary": [], "themes": [], "proba": None}, DataError, "no sentences"),
    ],
)
def test_bad_inputs_raise_one_line_errors(kwargs, error, match):
    args = {"gold": GOLD, "primary": PRIMARY, "themes": THEMES, "proba": PROBA,
            "classes": CLASSES, "n_boot": 0}
    args.update(kwargs)
    n_boot = args.pop("n_boot")
    with pytest.raises(error, match=match):
        compute_metrics(*args.values(), n_boot=n_boot)


def test_markdown_shows_headline_weak_themes_and_examples(report):
    text = report.to_markdown()
    assert text.startswith("# Test eval")
    assert "- **model**: toy" in text
    assert "| figure | model | majority |" in text
    assert "| Accuracy (primary) ↑ | **0.500** [" in text
    assert "Hamming loss ↓" in text and "Calibration error (ECE) ↓" in text
    assert "| `c` | n/a | 0.000 | 0.000 | 1 | 0 | ⚠ never predicted; few examples |" in text
    assert "| `b` | 0.000 | 0.000 | 0.000 | 2 | 1 | ⚠ weak; few examples |" in text
    assert "gold **`b`** predicted as **`a`**: 2 sentences" in text
    assert "#2: “Talks with the neighbour went well.”" in text
    assert r"\*border\*" in text  # markup in a sentence is escaped
    long_line = next(line for line in text.splitlines() if "#5:" in line)
    assert "END-OF-SENTENCE" not in long_line and long_line.endswith("…”")
    assert len(long_line.split("“", 1)[1]) <= 162
    assert "](confusion.png)" in text
    assert "## How to read this" in text


def test_markdown_refuses_texts_of_the_wrong_length(metrics):
    with pytest.raises(DataError, match="2 sentences given, 6 evaluated"):
        EvalReport(metrics, {}, ["x", "y"]).to_markdown()


def test_write_creates_the_three_files(report, tmp_path):
    paths = report.write(tmp_path / "out")
    assert set(paths) == {"markdown", "json", "png"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "confusion.png", "report.json", "report.md"]
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["metrics"]["accuracy"] == pytest.approx(0.5)
    assert data["metrics"]["per_theme"][2]["precision"] is None
    assert data["baselines"]["majority"]["accuracy"] == pytest.approx(2 / 6)
    assert data["metrics"]["confusions"][0]["example_texts"] == [TEXTS[2], TEXTS[5]]
    assert data["meta"] == {"model": "toy", "data": "gold.csv"}
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "| figure | model | majority |" in markdown and TEXTS[2] in markdown
    assert paths["png"].read_bytes().startswith(PNG_SIGNATURE)
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in paths.values())  # others can read


def test_png_keeps_the_size_for_sixteen_themes(tmp_path):
    classes = [f"theme_with_a_long_name_{i:02d}" for i in range(15)] + ["none"]
    gold = [[classes[i % 16]] for i in range(48)]
    primary = [classes[(i * 7) % 16] for i in range(48)]
    m = compute_metrics(gold, primary, [[p] for p in primary], None, classes, n_boot=0)
    png = EvalReport(m, {}, []).write(tmp_path / "big")["png"].read_bytes()
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (16 * 110, 7 * 110)


def test_write_creates_missing_parents(report, tmp_path):
    target = tmp_path / "missing" / "report"
    paths = report.write(target)
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in paths.values())


def test_write_under_a_file_raises_data_error(report, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match=r"cannot create the report folder"):
        report.write(tmp_path / "file" / "report")


def test_failed_write_leaves_the_old_report_untouched(report, tmp_path, monkeypatch):
    out = tmp_path / "out"
    paths = report.write(out)
    before = {key: path.read_bytes() for key, path in paths.items()}

    def broken_plot(*args, **kwargs):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(report_module, "_plot_confusion", broken_plot)
    report.title = "A newer report"
    with pytest.raises(RuntimeError, match="disk full"):
        report.write(out)
    assert {key: path.read_bytes() for key, path in paths.items()} == before
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "report.json", "report.md"]


def test_failed_first_write_removes_the_folder_it_created(report, tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "_plot_confusion", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        report.write(tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_right_primaries_with_wrong_theme_sets_show_the_set_errors():
    gold = [["energy_diplomacy", "economic_trade"], ["security_defense"], ["none"]]
    primary = ["energy_diplomacy", "security_defense", "none"]
    themes = [["energy_diplomacy"], ["security_defense", "energy_diplomacy"], ["none"]]
    classes = ["energy_diplomacy", "economic_trade", "security_defense", "none"]
    metrics = compute_metrics(gold, primary, themes, None, classes, n_boot=0)
    assert metrics["confusions"] == []
    assert metrics["set_errors"] == [  # most frequent first, then by first example
        {"error": "missed", "theme": "economic_trade", "count": 1, "examples": [0]},
        {"error": "added", "theme": "energy_diplomacy", "count": 1, "examples": [1]},
    ]
    markdown = EvalReport(metrics=metrics, baselines={},
                          texts=["Gas and trade.", "Troops.", "Thanks."]).to_markdown()
    assert "No errors: every primary theme is right." in markdown
    assert "**`economic_trade`** missed in the theme set of 1 sentence" in markdown
    assert "“Gas and trade.”" in markdown
