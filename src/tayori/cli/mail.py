"""``tayori send``: enqueue a broadcast from the shell (CSV or JSON lines of recipients)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tayori.cli.output import safe
from tayori.errors import TayoriError

APP_HELP = (
    "MODULE:ATTR of your Mailer (or an object with a .mailer); default "
    "tayori.mail.default:mailer (templates in ./templates, .eml files in the outbox)"
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"tayori send: {safe(message)}", err=True)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `tayori` app."""

    @app.command("send")
    def send(
        template: str = typer.Option(
            ..., "--template", "-t", help="template name (files NAME.subject/.txt/.html)"
        ),
        recipients: Path = typer.Option(
            ..., "--recipients", "-r", help="CSV with an email column, or JSON lines"
        ),
        context: str = typer.Option("{}", "--context", "-c", help="JSON object for the template"),
        broadcast_id: str | None = typer.Option(
            None,
            "--broadcast-id",
            help="reuse to retry a broadcast without duplicates (same template and context)",
        ),
        sender: str | None = typer.Option(None, "--sender", help="From address"),
        mailer_spec: str = typer.Option("tayori.mail.default:mailer", "--app", help=APP_HELP),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
        debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
    ) -> None:
        """Enqueue a broadcast: one message; a worker fans it out to every recipient."""
        from tayori.cli.core import check_resources
        from tayori.mail.recipients import read_file

        try:
            ctx = json.loads(context)
        except ValueError as exc:
            _fail(f"--context is not JSON: {exc}")
        if not isinstance(ctx, dict):
            _fail("--context must be a JSON object")
        if not recipients.is_file():
            _fail(f"recipients file {recipients} does not exist")
        try:
            from tayori.mail.broadcast import load_mailer

            mailer = load_mailer(mailer_spec)
            # on AWS: stop with one line (and the `tayori setup` command) when the bucket,
            # tables or queue are missing, before anything is half-sent
            check_resources(mailer.app, [mailer.fanout.queue], mailer_spec)
            before = mailer.status(broadcast_id) if broadcast_id else None
            bid = mailer.broadcast(
                template, read_file(recipients), ctx, broadcast_id, sender=sender
            )
            status = mailer.status(bid)
        except (TayoriError, ValueError) as exc:
            if debug:
                raise
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        total = status.total if status else None
        if as_json:
            data = {"broadcast_id": bid, "template": template, "total": total}
            typer.echo(json.dumps({**data, "existed": before is not None}))
        elif before is not None and status is not None:
            typer.echo(
                safe(
                    f"broadcast {bid} already exists ({status.sent} sent, {status.failed} failed "
                    f"of {total}): sent again idempotently, nobody gets a second copy; "
                    f"`tayori broadcast retry {bid}` re-sends the failed ones"
                )
            )
        else:
            typer.echo(safe(f"broadcast {bid}: {total} recipients queued (template {template})"))
