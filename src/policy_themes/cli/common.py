"""What the commands share: errors as one line, warnings, progress, interruptions."""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from pathlib import Path

import typer

from policy_themes.errors import PolicyThemesError


def make_console(stderr: bool = False):
    """A rich console as wide as the terminal: ``COLUMNS`` when set (a pipe or a file too),
    else the terminal's width, else 80 columns (rich's rules)."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False)


def handle_errors(func):
    """Turn the package's errors into one 'Error: ...' line on stderr and exit code 1.

    Warnings become one 'Warning: ...' line each; Ctrl-C exits with code 130, SIGTERM with 143
    after the same clean-up (:mod:`policy_themes.cli.signals`).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from policy_themes.cli.signals import exit_code, interruption, terminate_like_interrupt

        try:
            with warnings.catch_warnings(), terminate_like_interrupt():
                warnings.showwarning = _show_warning
                return func(*args, **kwargs)
        except PolicyThemesError as exc:
            typer.echo(f"Error: {one_line(str(exc))}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt as exc:
            typer.echo(f"{interruption(exc)}: nothing was written.", err=True)
            raise typer.Exit(exit_code(exc)) from None

    return wrapper


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one 'Warning: ...' line on stderr (no source line, no path)."""
    typer.echo(f"Warning: {' '.join(str(message).split())}", err=True)


def print_findings(findings) -> None:
    """What the run noticed in the data (rows skipped, duplicates, conflicts), on stderr."""
    for finding in findings:
        typer.echo(f"Warning: {one_line(str(finding))}", err=True)


# characters str.splitlines() breaks at: a message quoting a cell or a column name that holds
# one must still be one line
_LINE_BREAKS = {
    ord(c): c.encode("unicode_escape").decode("ascii")
    for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
}


def one_line(message: str) -> str:
    return message.translate(_LINE_BREAKS)


@contextlib.contextmanager
def interruptible(done: dict, out: Path | None):
    """Turn Ctrl-C (or SIGTERM) during a long run into one line saying how far it got, and
    exit code 130 (143).

    ``done`` holds the ``sentences`` done so far and the ``fraction`` of the input read.
    """
    from policy_themes.cli.signals import exit_code, interruption

    try:
        yield
    except KeyboardInterrupt as exc:
        sentences, fraction = done["sentences"], done["fraction"]
        if sentences and fraction > 0:
            total = max(_round_estimate(sentences / fraction), sentences)
            where = f"after {sentences:,} of ~{total:,} sentences"
        elif sentences:
            where = f"after {sentences:,} sentences"
        else:
            where = "before the first sentences were done"
        target = f" to {out}" if out is not None else ""
        typer.echo(f"{interruption(exc)} {where}; nothing was written{target}", err=True)
        raise typer.Exit(exit_code(exc)) from None


def _round_estimate(value: float) -> int:
    """Round to two significant digits: 297,312 -> 300,000."""
    digits = len(str(int(value))) - 2
    return int(round(value, -digits)) if digits > 0 else int(round(value))


@contextlib.contextmanager
def progress(description: str, done: dict | None = None):
    """Show sentences done, share of input read, rate and ETA on stderr; yield the callback.

    The callback ``update(sentences, fraction)`` also records both in ``done`` when given (so
    an interruption can say how far the run got).
    """
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    display = Progress(
        TextColumn(description),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[sentences]:,} sentences · {task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=make_console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with display:
        task = display.add_task(description, total=1.0, sentences=0, rate=0.0)

        def update(sentences: int, fraction: float) -> None:
            if done is not None:
                done.update(sentences=sentences, fraction=fraction)
            elapsed = display.tasks[task].elapsed or 1e-9
            display.update(task, completed=fraction, sentences=sentences, rate=sentences / elapsed)

        yield update


@contextlib.contextmanager
def stage_progress():
    """Show training stages (reading, cross-validation folds, fitting) on stderr; yield the
    ``update(stage, done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    display = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=make_console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )
    with display:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = display.add_task(stage, total=total)
            display.update(tasks[stage], completed=done, total=total)

        yield update


def jobs_or_cores(jobs: int | None, *, note: bool = True) -> int:
    """``--jobs`` as a number of processes: every core this process may run on by default
    (its CPU affinity, as the workers count them), not every core of the machine; never more
    than those cores (``--jobs 100000`` would start 100,000 processes), with a note (``note``:
    for the call that starts the command's work, not the one that only warms workers up)."""
    from policy_themes.parallel.pool import available_cores, resolve_jobs

    cores = available_cores()
    if jobs is not None and jobs > cores:
        if note:
            typer.echo(
                f"Note: --jobs {jobs} is more than the {cores} cores this process may use; "
                f"using {cores}",
                err=True,
            )
        return cores
    return resolve_jobs(jobs)


def check_engine(engine: str, scheduler: str | None) -> None:
    from policy_themes.errors import ConfigError

    if scheduler is not None and engine != "dask":
        raise ConfigError("--scheduler needs --engine dask")


def engine_backend(engine: str, scheduler: str | None):
    """joblib's Dask backend on a cluster for --engine dask, else nothing."""
    import contextlib

    if engine != "dask":
        return contextlib.nullcontext()
    from policy_themes.workflows.dask_engine import dask_backend

    return dask_backend(scheduler)


def with_ci(value: float, interval) -> str:
    if not interval or interval[0] is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def pipeline_allowed(ctx: typer.Context, model_dir: Path, what: str) -> bool:
    """Whether ``what`` may read the scikit-learn pipeline of ``model_dir``: its model.joblib is
    a pickle, read only from a model directory named on the command line (a .skops file holds
    the pipeline without pickle)."""
    from policy_themes.errors import ModelError
    from policy_themes.model.sharing import skops_model_file

    source = ctx.get_parameter_source("model_dir")
    if (
        getattr(source, "name", None) in ("COMMANDLINE", "ENVIRONMENT")
        or skops_model_file(model_dir) is not None
    ):
        return True
    raise ModelError(
        f"{what} reads the model's scikit-learn pipeline, {model_dir}/model.joblib: "
        "a pickle, which can run code; name the model directory you trust with "
        f"--model-dir, e.g. --model-dir {model_dir}"
    )


def chosen_model(ctx: typer.Context, model_dir: Path) -> Path:
    """The model a command uses: ``--model-dir`` (or ``POLICY_THEMES_MODEL``) when given, else
    ``models/default`` when it exists, else the model ``train`` wrote last, with a note saying
    so on stderr (:func:`policy_themes.model.locating.find_model`)."""
    from policy_themes.model.locating import find_model

    source = ctx.get_parameter_source("model_dir")
    if getattr(source, "name", None) in ("COMMANDLINE", "ENVIRONMENT"):
        return model_dir
    chosen = find_model(model_dir)
    if chosen.source == "last trained":
        typer.echo(f"Using the last trained model, {chosen.path} (there is no {model_dir} "
                   "here; --model-dir names another)", err=True)
    return chosen.path
