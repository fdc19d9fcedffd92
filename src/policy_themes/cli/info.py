"""``policy-themes info``: what a model is and how it was measured."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from policy_themes.cli.app import app
from policy_themes.cli.common import chosen_model, handle_errors, make_console
from policy_themes.cli.options import ModelSourceOption


@app.command("info")
@handle_errors
def info_cmd(ctx: typer.Context, model_dir: ModelSourceOption = Path("models/default")) -> None:
    """Show what a model holds: metadata, metrics and thresholds.

    The model is a model directory or a shared .skops file, checked as predict checks it
    (nothing is unpickled); a .skops file is checked against the allow-list of types and
    loaded to read it.

    Example:

    \b
    policy-themes info --model-dir models/default
    """
    from policy_themes.cli.render import figures_table
    from policy_themes.model.sharing import read_model_meta, skops_model_file
    from policy_themes.resources import describe_data_files

    model_dir = chosen_model(ctx, model_dir)
    meta = read_model_meta(model_dir)
    shared_file = skops_model_file(model_dir)
    data = meta.get("training_data", {})
    taxonomy = meta.get("taxonomy", {})
    figures = {
        "model file" if shared_file else "model directory": str(shared_file or model_dir),
        "created": meta.get("created"),
        "policy-themes": meta.get("package_version"),
        "scikit-learn": meta.get("sklearn_version"),
        "taxonomy": f"{taxonomy.get('name')} ({len(taxonomy.get('ids', []))} ids, "
        f"{str(taxonomy.get('fingerprint', ''))[:12]})",
        "training data": describe_data_files(data.get("files", []), data.get("sentences")),
        "weak labels": data.get("weak_labels"),
        "features": ", ".join(
            k for k, v in meta.get("config", {}).get("features", {}).items() if v
        ),
    }
    if shared_file:
        shared = meta.get("shared") or {}
        figures["format"] = f"skops {shared.get('skops_version')} (no pickle)"
        figures["exported"] = shared.get("exported")
        figures["sha256 source model.joblib"] = str(shared.get("source_sha256", ""))[:16] + "…"
    else:
        for name, digest in meta.get("sha256", {}).items():
            figures[f"sha256 {name}"] = digest[:16] + "…"
        figures["predicts with"] = "model.npz (NumPy)"  # read_model_meta refuses a model without
    for key, value in (meta.get("cv_metrics") or {}).items():
        if not key.endswith("_ci"):
            figures[_CV_NAMES.get(key, f"cv {key}")] = value
    console = make_console()
    console.print(figures_table(figures, title="Model"))
    thresholds = meta.get("thresholds") or {}
    if thresholds:
        _print_thresholds(console, thresholds, meta.get("config", {}).get("thresholds") or {})


# cross-validation figures whose key does not say what they are
_CV_NAMES = {"n": "cv sentences scored", "top3_accuracy": "cv top-3 accuracy"}


def _print_thresholds(console, thresholds: dict, limits: dict) -> None:
    """Each theme's membership threshold, "floor" or "ceiling" beside one that sits at the
    config's limit (cross-validation chose none inside); all at the floor, one line."""
    from policy_themes.cli.render import figures_table

    floor, ceiling = limits.get("minimum"), limits.get("maximum")
    if floor is not None and len(thresholds) > 1 and all(
            math.isclose(v, floor) for v in thresholds.values()):
        typer.echo(f"Theme thresholds: all {len(thresholds)} at the floor, {floor:.3f} "
                   "(the config's thresholds.minimum): cross-validation chose none above it")
        return
    shown = {}
    for theme, value in thresholds.items():
        limit = ("floor" if floor is not None and math.isclose(value, floor) else
                 "ceiling" if ceiling is not None and math.isclose(value, ceiling) else None)
        shown[theme] = f"{value:.3f}" + (f" ({limit})" if limit else "")
    console.print(figures_table(shown, title="Theme thresholds", humanize=False))
