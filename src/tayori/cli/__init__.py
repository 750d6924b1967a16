"""The ``tayori`` command. Each area registers its commands from its own module."""

from __future__ import annotations

import typer

from tayori.cli import core, dashboard, deploy, mail, plan, setup

app = typer.Typer(
    name="tayori",
    help="Bulk email and heavy async work on the Lambda x SQS model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (core, mail, plan, deploy, dashboard, setup):
    module.register(app)


def main() -> None:
    app()
