"""What the commands share (policy_themes.cli.common)."""

import os

import pytest

from policy_themes.cli.common import jobs_or_cores


@pytest.fixture
def one_core(monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})


def test_the_cli_counts_cores_as_the_workers_do(one_core):
    assert jobs_or_cores(None) == jobs_or_cores(0) == 1  # one core allowed: one worker


def test_more_jobs_than_cores_are_capped_with_a_note(one_core, capsys):
    assert jobs_or_cores(3) == 1
    assert capsys.readouterr().err == (
        "Note: --jobs 3 is more than the 1 cores this process may use; using 1\n")
    assert jobs_or_cores(3, note=False) == 1
    assert capsys.readouterr().err == ""


def _command_paths(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, command in click_group.commands.items():
        if hasattr(command, "commands"):
            yield from _command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_help_names_arguments_in_words_not_python_types():
    from typer.testing import CliRunner

    from policy_themes.cli import app

    paths = list(_command_paths(app))
    assert len(paths) >= 12
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, path
        assert "<list[" not in result.output and "<Path>" not in result.output, path
        assert "<str>" not in result.output and "<int>" not in result.output, path


def test_every_help_example_is_one_line_to_copy():
    from typer.testing import CliRunner

    from policy_themes.cli import app

    for path in _command_paths(app):
        output = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
        lines = [line.strip() for line in output.splitlines()]
        if "Example:" not in lines:
            continue
        after = [line for line in lines[lines.index("Example:") + 1:]]
        command = next(i for i, line in enumerate(after) if line)
        assert after[command].startswith("policy-themes "), path
        assert after[command + 1] == "", (path, after[command + 1])
