"""The themes, init and rules suggest commands, run in-process with typer's CliRunner."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from policy_themes.cli import app
from policy_themes.rules.taxonomy import load_taxonomy

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def assert_one_error_line(result, expected):
    """Exit code 1, nothing on stdout, one line on stderr; an expected line ending in '…' is a
    prefix."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if expected.endswith("…"):
        assert lines[0].startswith(expected[:-1]), lines[0]
    else:
        assert lines[0] == expected


@pytest.fixture
def labeled(tmp_path):
    rows = [("Gas prices rose again.", "energy"), ("The gas pipeline opened.", "energy"),
            ("Gas supply talks ended.", "energy"), ("Oil and gas exports grew.", "energy"),
            ("The trade deal was signed.", "trade"), ("Trade talks ended.", "trade"),
            ("Trade barriers fell.", "trade"), ("The weather was fine.", "none"),
            ("Lunch was served.", "none")]
    path = tmp_path / "labeled.csv"
    pd.DataFrame(rows, columns=["text", "themes"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", [["themes"], ["init"], ["rules", "suggest"]])
def test_commands_have_help_with_an_example(command):
    result = invoke(*command, "--help", catch_exceptions=False)
    assert result.exit_code == 0
    example = result.output.split("Example:")[1].strip().splitlines()[0]
    assert example.startswith(f"policy-themes {' '.join(command)}")


def test_rules_without_a_command_shows_its_commands():
    result = invoke("rules")
    assert "suggest" in result.output


# --- themes --------------------------------------------------------------------------------------

def test_themes_shows_the_shipped_taxonomy(taxonomy):
    result = invoke("themes", catch_exceptions=False)
    assert result.exit_code == 0
    assert f"Taxonomy default: {len(taxonomy.theme_ids)} themes and {len(taxonomy.rules)} rules" \
        in result.stdout
    for theme_id in taxonomy.ids:
        assert theme_id in result.stdout
    assert "Note:" not in result.stdout


def test_themes_counts_labeled_sentences_and_notes_gaps(tmp_path, labeled, data_dir):
    result = invoke("themes", "-t", data_dir / "mini_taxonomy.yaml", "--data", labeled,
                    catch_exceptions=False)
    assert result.exit_code == 0
    assert "9 labeled sentences" in result.stdout
    energy = next(line for line in result.stdout.splitlines() if "│ energy " in line)
    assert energy.split("│")[-3:-1] == ["       4 ", " 0.444 "]
    assert "Note: no labeled sentence for cooperation" in result.stdout


def test_themes_with_an_unknown_label_is_one_error_line(tmp_path, data_dir):
    path = tmp_path / "bad.csv"
    path.write_text("text,themes\nFish.,fisheries\n", encoding="utf-8")
    result = invoke("themes", "-t", data_dir / "mini_taxonomy.yaml", "--data", path)
    assert_one_error_line(result, f"Error: {path}: unknown theme 'fisheries' in row 2…")


def test_a_taxonomy_with_several_problems_is_one_error_line(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("themes:\n  - id: Bad Id\n    name: B\n  - id: ok\n    nam: typo\n",
                    encoding="utf-8")
    result = invoke("themes", "-t", path)
    assert_one_error_line(
        result, f"Error: {path}: 3 problems: theme 'Bad Id': field 'id' must be lower-case "
                "letters, digits and underscores, got 'Bad Id'; theme 'ok': unknown key 'nam' "
                "(allowed: description, id, name, rules); theme 'ok': missing field 'name'")


# --- init ----------------------------------------------------------------------------------------

def test_init_from_theme_ids(tmp_path):
    out = tmp_path / "taxonomy.yaml"
    result = invoke("init", "energy_security", "Trade & investment", "--out", out,
                    "--name", "ministry", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        f"Wrote {out}: taxonomy ministry with 2 themes and none (energy_security, "
        "trade_investment, none).")
    taxonomy = load_taxonomy(out)
    assert [t.name for t in taxonomy.themes] == ["Energy security", "Trade & investment",
                                                  "No theme"]


def test_init_from_labels_then_themes(tmp_path, labeled):
    out = tmp_path / "taxonomy.yaml"
    result = invoke("init", "--from-labels", labeled, "--out", out, catch_exceptions=False)
    assert result.exit_code == 0
    assert f"--taxonomy {out} --data {labeled}" in result.stdout
    shown = invoke("themes", "-t", out, "--data", labeled, catch_exceptions=False)
    assert "(empty)" in shown.stdout
    assert "Note: 2 themes without a description yet (energy, trade)" in shown.stdout


def test_init_refuses_to_overwrite_and_to_guess(tmp_path, labeled):
    out = tmp_path / "taxonomy.yaml"
    out.write_text("mine\n", encoding="utf-8")
    result = invoke("init", "energy", "--out", out)
    assert_one_error_line(result, f"Error: {out}: exists already; give a new file name, or "
                                  "--force to replace it")
    assert out.read_text(encoding="utf-8") == "mine\n"
    assert invoke("init", "energy", "--out", out, "--force").exit_code == 0
    both = invoke("init", "energy", "--from-labels", labeled, "--out", tmp_path / "x.yaml")
    assert_one_error_line(both, "Error: give theme ids or --from-labels TABLE (one of them)")


# --- rules suggest -------------------------------------------------------------------------------

def test_rules_suggest_prints_rules_to_paste(tmp_path, labeled):
    taxonomy = tmp_path / "taxonomy.yaml"
    invoke("init", "--from-labels", labeled, "--out", taxonomy, catch_exceptions=False)
    result = invoke("rules", "suggest", labeled, "-t", taxonomy, "--min-matches", "2",
                    catch_exceptions=False)
    assert result.exit_code == 0
    assert "Suggested rules from 9 labeled sentences (precision ≥ 0.7, ≥ 2 matches)" \
        in result.stdout
    snippet = result.stdout[result.stdout.index("# Rules suggested"):]
    rules = yaml.safe_load(snippet)
    assert {rule["name"] for rule in rules} == {"energy_suggested", "trade_suggested"}
    assert "gas" in next(r for r in rules if r["name"] == "energy_suggested")["patterns"]


def test_rules_suggest_out_writes_a_taxonomy_that_trains(tmp_path, labeled):
    taxonomy = tmp_path / "taxonomy.yaml"
    out = tmp_path / "with-rules.yaml"
    invoke("init", "--from-labels", labeled, "--out", taxonomy, catch_exceptions=False)
    result = invoke("rules", "suggest", labeled, "-t", taxonomy, "--min-matches", "2",
                    "--out", out, catch_exceptions=False)
    assert result.exit_code == 0
    assert "# Rules suggested" not in result.stdout
    assert f"Wrote {out}: the taxonomy with " in result.stdout
    loaded = load_taxonomy(out)
    assert {rule.name for rule in loaded.rules} == {"energy_suggested", "trade_suggested"}
    again = invoke("rules", "suggest", labeled, "-t", taxonomy, "--out", out)
    assert_one_error_line(again, f"Error: {out}: exists already; give a new file name, or "
                                 "--force to replace it")


def test_rules_suggest_notes_themes_without_suggestions(tmp_path, labeled, data_dir):
    result = invoke("rules", "suggest", labeled, "-t", data_dir / "mini_taxonomy.yaml",
                    catch_exceptions=False)
    assert result.exit_code == 0
    assert "Note: no pattern qualifies for energy, trade, cooperation" in result.stdout


def test_rules_suggest_checks_its_options(labeled):
    result = invoke("rules", "suggest", labeled, "--min-precision", "2")
    assert result.exit_code == 2
