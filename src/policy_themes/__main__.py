"""Run the CLI with ``python -m policy_themes``."""

from policy_themes.cli import app

app()
