"""``policy-themes info``: what a model is and how it was measured."""

from __future__ import annotations

from pathlib import Path

from policy_themes.cli.app import app
from policy_themes.cli.common import handle_errors, make_console
from policy_themes.cli.options import ModelSourceOption


@app.command("info")
@handle_errors
def info_cmd(model_dir: ModelSourceOption = Path("models/default")) -> None:
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
        "training data": ", ".join(data.get("files", [])),
        "training sentences": data.get("sentences"),
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
            figures[f"cv {key}"] = value
    console = make_console()
    console.print(figures_table(figures, title="Model"))
    thresholds = meta.get("thresholds") or {}
    if thresholds:
        console.print(figures_table(thresholds, title="Theme thresholds", humanize=False))
