"""``policy-themes export``: a model as one .skops file others can load safely."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import handle_errors, pipeline_allowed
from policy_themes.cli.options import ModelDirOption, ShareFormat

ShareFormatOption = Annotated[
    ShareFormat, typer.Option("--format", "-f", help="The sharing format.")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="PATH",
        help="The file to write, ending in .skops [default: <model-dir>/model.skops].",
    ),
]


@app.command("export")
@handle_errors
def export_cmd(
    ctx: typer.Context,
    model_dir: ModelDirOption = Path("models/default"),
    share_format: ShareFormatOption = ShareFormat.skops,
    out: OutOption = None,
) -> None:
    """Export a trained model to one .skops file that others can load without running its code.

    model.joblib is a pickle: loading one runs whatever code its author put in it, so export
    reads it only from a model directory named with --model-dir. The .skops file (skops.io)
    holds the same fitted pipeline and its model.json metadata as data; predict, evaluate and
    info load it with --model-dir FILE.skops, refusing any file that names a type outside
    policy-themes' allow-list. Needs skops: pip install "policy-themes[share]".

    Example:

    \b
    policy-themes export --model-dir models/default --out default.skops
    """
    from policy_themes.model.sharing import export_model

    pipeline_allowed(ctx, model_dir, "export")
    path = export_model(model_dir, out, format=share_format.value)
    size = path.stat().st_size / 1e6
    typer.echo(f"Exported {model_dir} to {path} ({size:.1f} MB)")
