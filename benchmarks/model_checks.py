"""What checking a model before use costs (``policy_themes.model.checks``), beside what loading
it costs anyway.

Every ``model.npz`` is checked in two steps: when it is loaded, its spec and each array's dtype
and shape from the file's headers (without reading the arrays); when its arrays are first read,
their values (buckets sorted and in range, every number finite). A ``.skops`` file is audited
before skops reads it (the archive's sizes, every type of its schema) and its arrays are checked
as ``model.npz``'s. This times each step on the default model (``models/default``, 45 MB of
arrays), beside the work a run does anyway: hashing ``model.npz`` and ``model.joblib`` (their
SHA-256 against ``model.json``) and reading the arrays. Medians of ``--repeat`` runs, after one
to warm the page cache.

    python benchmarks/model_checks.py                       # models/default
    python benchmarks/model_checks.py --model-dir models/x  # another model directory

Prints a Markdown table and writes it, with the date and the machine, to
``benchmarks/results/model_checks.md`` (``--results`` to change).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from policy_themes.model.checks import (
    check_layout,
    check_values,
    layout_of,
    npz_layout,
    parse_spec,
)
from policy_themes.model.store import ARRAYS_FILE, MODEL_FILE, file_sha256

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "model_checks.md"
SMALL_DATA = ROOT / "tests" / "data" / "train_small.csv"
SMALL_CONFIG = ROOT / "tests" / "data" / "train_small.yaml"


def median_ms(step, repeat: int) -> float:
    step()  # warm: the file in the page cache, the modules imported
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files if name != "spec"}


def npz_rows(model_dir: Path, repeat: int) -> list[tuple[str, float, str]]:
    path = model_dir / ARRAYS_FILE
    with np.load(path, allow_pickle=False) as data:
        raw_spec = data["spec"]
    spec = parse_spec(raw_spec, path)
    arrays = read_arrays(path)

    def values() -> None:
        check_layout(spec, layout_of(arrays), path)
        check_values(spec, arrays, path)

    return [
        ("check: spec (JSON fields)", median_ms(lambda: parse_spec(raw_spec, path), repeat),
         "at load"),
        ("check: layout from the headers", median_ms(
            lambda: check_layout(spec, npz_layout(path), path), repeat), "at load"),
        ("check: values", median_ms(values, repeat), "first read of the arrays"),
        ("(anyway) read the arrays", median_ms(lambda: read_arrays(path), repeat),
         "first read of the arrays"),
        ("(anyway) SHA-256 of model.npz", median_ms(lambda: file_sha256(path), repeat),
         "at load"),
        ("(anyway) SHA-256 of model.joblib", median_ms(
            lambda: file_sha256(model_dir / MODEL_FILE), repeat), "at load"),
    ]


def skops_rows(repeat: int) -> list[tuple[str, float, str]]:
    """The audit of a .skops file and its arrays' checks, on the small test model (the default
    model's model.joblib is not read here: it is a pickle)."""
    from policy_themes.model.sharing import (
        export_model,
        load_skops,
        refused_types,
        skops_array_model,
    )
    from policy_themes.workflows.training import train

    with tempfile.TemporaryDirectory() as folder:
        model_dir = Path(folder) / "small"
        train([SMALL_DATA], config=SMALL_CONFIG, model_dir=model_dir)
        shared = export_model(model_dir, Path(folder) / "small.skops")
        pipeline, _ = load_skops(shared)
        size = shared.stat().st_size / 1e6
        return [
            (f"check: .skops audit (sizes, schema types; {size:.1f} MB file)",
             median_ms(lambda: refused_types(shared), repeat), "before skops reads it"),
            ("check: .skops arrays (compiled and checked)",
             median_ms(lambda: skops_array_model(pipeline, shared), repeat), "at load"),
            ("(anyway) skops loads the pipeline",
             median_ms(lambda: load_skops(shared), max(repeat // 4, 3)), "at load"),
        ]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{os.cpu_count()} cores ({cpu}{load}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, NumPy {np.__version__}")


def table(rows: list[tuple[str, float, str]]) -> str:
    lines = ["| step | median ms | when |", "|---|---:|---|"]
    lines += [f"| {name} | {ms:.2f} | {when} |" for name, ms, when in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--no-skops", action="store_true", help="Skip the .skops rows (they "
                                                                "train a small model first).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    arrays_mb = (args.model_dir / ARRAYS_FILE).stat().st_size / 1e6
    rows = npz_rows(args.model_dir, args.repeat)
    if not args.no_skops:
        rows += skops_rows(args.repeat)
    text = (f"# Model checks: what they cost\n\n{date.today().isoformat()}, {machine()}; "
            f"`python benchmarks/model_checks.py` on {args.model_dir.name} ({arrays_mb:.1f} MB "
            f"model.npz), medians of {args.repeat} runs.\n\n{table(rows)}\n")
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
