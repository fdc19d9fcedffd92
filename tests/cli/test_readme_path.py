"""The README's main job, end to end with the installed command: train the default model on the
shipped data and config, then predict a sentence. Real subprocesses; about 3 minutes on 2 cores."""

import re
import subprocess
import sys
from pathlib import Path

SENTENCE = "The two ministers discussed the new gas pipeline across the Caspian Sea."


def command() -> list[str]:
    script = Path(sys.executable).parent / "policy-themes"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "policy_themes"]


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*command(), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=900, check=False)


def test_train_the_default_model_then_predict(tmp_path):
    model_dir = tmp_path / "default"
    trained = run("train", "--model-dir", model_dir, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    row = next(line for line in trained.stdout.splitlines() if "cv accuracy" in line)
    accuracy = float(re.search(r"cv accuracy\s*│\s*([01]\.\d{3}) \[", row).group(1))
    assert 0.5 < accuracy <= 1.0
    assert (model_dir / "model.joblib").is_file() and (model_dir / "report.md").is_file()

    predicted = run("predict", "--model-dir", model_dir, SENTENCE, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    rows = [line.strip("│").split("│") for line in predicted.stdout.splitlines()
            if line.startswith("│")]
    header = next(line for line in predicted.stdout.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")][:2] == ["text", "themes"]
    assert rows[0][1].strip().startswith("energy_diplomacy:0.")  # the theme and its probability
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default"]
