"""Run the CLI with ``python -m policy_themes``."""

from .cli import app

app()
