"""docs/your-own-codebook.md, run as written: every command of the walk-through, in order, in a
fresh folder, each in its own process (``policy-themes`` as ``python -m policy_themes``).

The output shown after each command is checked: exactly where it does not depend on a trained
model (init, themes, rules suggest), line by line with the numbers left out where it does
(train, evaluate), and the predicted themes for predict.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from policy_themes.rules.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "your-own-codebook.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
MODEL_FIGURES = ("train", "evaluate")  # outputs whose numbers come from a trained model

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the walk-through uses mkdir, cp, head")


def walkthrough() -> list[tuple[str, str | None]]:
    """Each command of the doc's console blocks, with the output shown after its block (the
    output of a block's last command), and each Python block (as ``python:<code>``), in
    order."""
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    steps: list[tuple[str, str | None]] = []
    for index, (kind, body) in enumerate(blocks):
        if kind == "python":
            steps.append((f"python:{body}", None))
        if kind != "console":
            continue
        commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
        assert commands and len(commands) == len(body.splitlines()), body
        shown = blocks[index + 1][1] if index + 1 < len(blocks) and \
            blocks[index + 1][0] == "text" else None
        steps += [(c, None) for c in commands[:-1]] + [(commands[-1], shown)]
    return steps


def run(command: str, folder: Path) -> subprocess.CompletedProcess:
    args = [sys.executable, "-c", command[7:]] if command.startswith("python:") else \
        shlex.split(command)
    if args[0] == "policy-themes":
        args = [sys.executable, "-m", "policy_themes", *args[1:]]
    # the walkthrough shows the tables of a terminal 160 columns wide
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "160"}
    return subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def check_output(command: str, output: str, shown: str) -> None:
    name = command.split()[1] if command.startswith("policy-themes") else ""
    if name in MODEL_FIGURES:
        assert [NUMBER.sub("#", x) for x in lines(output)] == \
            [NUMBER.sub("#", x) for x in lines(shown)], output
    elif name == "suggest":  # which sentences, and the guesses, come from the trained model
        assert lines(shown)[0] in output, output
        assert [x for x in lines(output) if x.startswith("Wrote ")] == \
            [x for x in lines(shown) if x.startswith("Wrote ")], output
    elif name == "predict":
        assert [x.split(",")[:2] for x in lines(output)] == \
            [x.split(",")[:2] for x in lines(shown)], output
    else:
        assert lines(output) == lines(shown), output


def test_the_walkthrough_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "configs" / "examples", tmp_path / "configs" / "examples")
    steps = walkthrough()
    assert [c.split()[1] for c, _ in steps if c.startswith("policy-themes")] == \
        ["init", "themes", "rules", "rules", "train", "predict", "evaluate", "suggest", "train"]
    for command, shown in steps:
        result = run(command, tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        if shown is not None:
            check_output(command, result.stdout + result.stderr, shown)
    folder = tmp_path / "my-codebook"
    written = load_taxonomy(folder / "taxonomy-rules.yaml")
    assert {rule.name for rule in written.rules} == {f"{t}_suggested"
                                                     for t in written.theme_ids}
    assert (folder / "model" / "model.json").is_file()
    for name in ("report.md", "report.json", "confusion.png"):
        assert (folder / "report" / name).is_file()


def test_the_file_shown_is_the_file_init_writes(tmp_path):
    """The doc's first YAML block is the end of what init writes, and the filled-in example
    differs from it only in names and descriptions."""
    shutil.copytree(ROOT / "configs" / "examples", tmp_path / "configs" / "examples")
    for command, _ in walkthrough():
        run(command, tmp_path)
        if " init " in f" {command} ":
            break
    written = (tmp_path / "my-codebook" / "taxonomy.yaml").read_text(encoding="utf-8")
    shown = [body for kind, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))
             if kind == "yaml"]
    assert written.endswith(shown[0])
    example = ROOT / "configs" / "examples" / "ministry-taxonomy.yaml"
    skeleton = load_taxonomy(tmp_path / "my-codebook" / "taxonomy.yaml")
    filled = load_taxonomy(example)
    assert filled.ids == skeleton.ids and filled.rules == skeleton.rules == []
    assert all(t.description for t in filled.themes)
    for block in shown[1:]:
        theme = yaml.safe_load(block)["themes"][0]
        assert filled.theme(theme["id"]).description == " ".join(theme["description"].split())
