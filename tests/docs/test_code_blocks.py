"""Every fenced code block of README.md and docs/*.md runs, as written.

A document's blocks run in order, in one temporary folder laid out as a checkout after the
README's first command: copies of ``configs/`` and ``data/``, ``models/default`` (a model trained
once per module with a fast config: not the shipped default model, so printed figures differ)
and ``../shared`` when it exists. By the block's language:

- ``console``: lines starting with ``$ `` are commands (a line ending with ``\\`` goes on); the
  lines after a command are its output. The command must succeed (fail, when the output shown
  starts with ``Error:``) and print at least half of the words shown (figures and themes
  differ, since the model differs).
- ``bash``/``sh``: run as one script under ``set -e``, line by line.
- ``python``: ``exec`` in a fresh namespace, in the folder.
- ``yaml``: must parse. ``text``: output only, never run.

``<!-- not-run: REASON -->`` on the line before a block exempts it; only a few may be. Blocks
that name ``../shared`` are skipped when it is absent, as the other tests of it are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import policy_themes

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"console", "bash", "sh", "python", "yaml"}
NOT_RUN = {"text"}
MAX_EXEMPT = 5
FENCE = re.compile(r"^```(\S*)\s*$")
EXEMPT = re.compile(r"^<!--\s*not-run:\s*(.*?)\s*-->$")
# a fast model for the docs' commands: word n-grams, rule votes and context, no CV;
# trained on tests/data/train_small.csv (4 themes), so its predictions are not the docs'
FAST_CONFIG = """\
seed: 0
features: {word: true, char: false, rules: true, context_words: true, context_rules: true}
params: {features__word__ngram_range: [1, 2], features__word__sublinear_tf: true, clf__C: 10.0}
cv: {folds: 0}
context: {window: 2}
"""
TIMEOUT = 300
MIN_WORDS_FOUND = 0.5


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, from 1
    lang: str
    source: str
    exempt: str | None  # the reason, when a not-run marker precedes the block

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with their not-run markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        assert end is not None, f"{path.name}:{i + 1}: code block never closed"
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = EXEMPT.match(before)
        blocks.append(Block(path, i + 1, opening.group(1), "\n".join(lines[i + 1:end]) + "\n",
                            marker.group(1) if marker else None))
        i = end + 1
    return blocks


ALL_BLOCKS = [block for path in DOCS for block in read_blocks(path)]


# ---------------------------------------------------------------------------------------------
# The folder the docs assume


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory, train_small_path) -> Path:
    """A model directory trained once for this module on the tests' small labeled data."""
    from policy_themes import train

    folder = tmp_path_factory.mktemp("docs-model")
    config = folder / "fast.yaml"
    config.write_text(FAST_CONFIG, encoding="utf-8")
    model_dir = folder / "default"
    train([train_small_path], config=config, model_dir=model_dir)
    return model_dir


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the docs' commands: this interpreter, this package, 100 columns."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "policy-themes"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m policy_themes "$@"\n')
    shim.chmod(0o755)
    package_parent = str(Path(policy_themes.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [package_parent, env.get("PYTHONPATH")] if p)
    env["COLUMNS"] = "100"
    return env


def checkout(tmp_path: Path, model_dir: Path) -> Path:
    """A folder laid out as a checkout with a trained default model, ../shared beside it."""
    folder = tmp_path / "checkout"
    for name in ("configs", "data"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copytree(model_dir, folder / "models" / "default")
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED, target_is_directory=True)
    return folder


# ---------------------------------------------------------------------------------------------
# Running blocks


def console_commands(source: str) -> list[tuple[str, list[str]]]:
    """The ``$ `` commands of a console block, each with the output lines shown after it."""
    commands: list[tuple[str, list[str]]] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            commands.append((command, []))
        else:
            assert commands, f"output before any command: {line!r}"
            commands[-1][1].append(line)
        i += 1
    return commands


def _words(text: str) -> set[str]:
    """The words of a text: letters and underscores, two or more."""
    return set(re.findall(r"[A-Za-z_]{2,}", text))


def check_output(block: Block, command: str, shown: list[str], result) -> None:
    """The command succeeded (failed, when an error is shown) and printed mostly the words shown.

    Loose on purpose: the test's model is not the default model, so figures and themes differ.
    """
    printed = result.stdout + result.stderr
    expect_failure = bool(shown) and shown[0].startswith("Error:")
    assert (result.returncode != 0) == expect_failure, (
        f"{block.where}: `{command}` exited {result.returncode}\n{printed}")
    expected = _words("\n".join(shown))
    if expected:
        found = len(expected & _words(printed)) / len(expected)
        assert found >= MIN_WORDS_FOUND, (
            f"{block.where}: `{command}` printed {found:.0%} of the words shown:\n{printed}")


def run_block(block: Block, folder: Path, env: dict[str, str], monkeypatch) -> None:
    if block.lang == "yaml":
        yaml.safe_load(block.source)
    elif block.lang == "python":
        monkeypatch.chdir(folder)
        code = compile(block.source, block.where, "exec")
        exec(code, {"__name__": "__docs__"})
    elif block.lang in ("bash", "sh"):
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.source], cwd=folder,
                                env=env, capture_output=True, text=True, timeout=TIMEOUT,
                                check=False)
        assert result.returncode == 0, (
            f"{block.where}: exited {result.returncode}\n{result.stdout}{result.stderr}")
    elif block.lang == "console":
        for command, shown in console_commands(block.source):
            result = subprocess.run(["bash", "-c", command], cwd=folder, env=env,
                                    capture_output=True, text=True, timeout=TIMEOUT,
                                    check=False)
            check_output(block, command, shown, result)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(path, fast_model, shell_env, tmp_path, monkeypatch):
    folder = checkout(tmp_path, fast_model)
    ran = []
    for block in read_blocks(path):
        if block.exempt is not None or block.lang in NOT_RUN:
            continue
        if "../shared" in block.source and not SHARED.is_dir():
            continue
        run_block(block, folder, shell_env, monkeypatch)
        ran.append(block.where)
    if not ran and any(b.lang in RUN and b.exempt is None for b in read_blocks(path)):
        pytest.skip(f"every block of {path.name} needs {SHARED}")


# ---------------------------------------------------------------------------------------------
# What the blocks must be


def test_every_block_has_a_known_language():
    unknown = [f"{b.where} ({b.lang or 'no language'})" for b in ALL_BLOCKS
               if b.lang not in RUN | NOT_RUN]
    assert not unknown, "blocks must be one of " + ", ".join(sorted(RUN | NOT_RUN))


def test_few_blocks_are_exempt_and_each_says_why():
    exempt = [b for b in ALL_BLOCKS if b.exempt is not None]
    assert len(exempt) <= MAX_EXEMPT, [b.where for b in exempt]
    assert all(len(b.exempt.split()) >= 3 for b in exempt), [(b.where, b.exempt) for b in exempt]
    assert all(b.lang in RUN for b in exempt), "only runnable blocks need a not-run marker"


README_COMMANDS = [
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && policy-themes train\n",
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && "
    'pip install ".[test]" && python -m pytest\n',
]


def test_readme_starts_with_the_two_commands_ci_runs():
    first_two = read_blocks(ROOT / "README.md")[:2]
    assert [b.source for b in first_two] == README_COMMANDS
    assert all(b.exempt for b in first_two)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for part in ("torch==2.13.0", '".[test]"', "python -m pytest"):
        assert part in ci


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


def test_readme_speed_table_is_the_benchmarks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    results = (ROOT / "benchmarks" / "results" / "throughput.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Speed"):]
    rows = [line for line in section.splitlines() if line.startswith("| `") or
            line.startswith("| fastText")]
    assert rows
    for row in rows:
        for cell in row.strip("|").split("|")[1:]:
            for figure in re.findall(r"\d[\d,.]*", cell):
                assert figure in results, f"{figure} of {row!r} is not in throughput.md"


def test_relative_links_resolve():
    broken = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target and not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken


def test_console_commands_parse():
    source = textwrap.dedent("""\
        $ policy-themes predict \\
            "One." "Two."
        text,primary
        $ policy-themes info
        """)
    assert console_commands(source) == [
        ('policy-themes predict  "One." "Two."', ["text,primary"]),
        ("policy-themes info", []),
    ]
