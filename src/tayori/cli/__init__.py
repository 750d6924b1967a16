"""The ``tayori`` command. Each area registers its commands from its own module.

``main`` runs Click in non-standalone mode so that a usage error (an unknown option, a
value out of range) is one line on stderr with exit code 2, like every other bad input.
"""

from __future__ import annotations

import sys

import typer

from tayori.cli import broadcast, core, dashboard, deploy, dlq, mail, plan, setup
from tayori.cli.output import safe, state
from tayori.errors import ConfigError, TayoriError

app = typer.Typer(
    name="tayori",
    help="Bulk email and heavy async work on the Lambda x SQS model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (core, dlq, mail, broadcast, plan, deploy, dashboard, setup):
    module.register(app)

# Typer vendors Click in recent releases and uses click itself in older ones: find the
# usage-error class through a public name instead of importing either.
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def main(args: list[str] | None = None) -> None:
    """Console-script entry point (also ``python -m tayori``)."""
    try:
        code = app(args=args, prog_name="tayori", standalone_mode=False)
    except UsageError as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help(), err=True)
        else:
            command = ctx.command_path if ctx is not None else "tayori"
            message = safe(exc.format_message())
            typer.echo(f"{command}: {message} (see {command} --help)", err=True)
        code = 2
    except typer.Abort:
        typer.echo("tayori: aborted", err=True)
        code = 1
    except ConfigError as exc:  # e.g. a bad TAYORI_* value outside any command's guard
        if state["debug"]:
            raise
        typer.echo(f"tayori: {safe(str(exc).splitlines()[0])}", err=True)
        code = 2
    except TayoriError as exc:
        if state["debug"]:
            raise
        typer.echo(f"tayori: {type(exc).__name__}: {safe(exc)}", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
