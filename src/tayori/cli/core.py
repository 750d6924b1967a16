"""Core commands: demo, worker, status, dlq."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the core commands to the `tayori` app."""
