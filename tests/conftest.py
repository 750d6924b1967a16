"""Shared fixtures. Area fixtures live in tests/fixtures/ and are loaded here."""

from typing import Any

import pytest

pytest_plugins: list[str] = ["tests.fixtures.moto", "tests.fixtures.smtp"]


@pytest.fixture
def cli() -> Any:
    """``tayori plan`` in a group app, as the real ``tayori`` command registers it."""
    import typer

    from tayori.cli.plan import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Group mode, as the real `tayori` app."""

    register(app)
    return app
