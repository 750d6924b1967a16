"""``tayori dlq list|redrive|purge``: look at dead letters, move them back, or drop them."""

from __future__ import annotations

import re
from typing import Any

import typer

from tayori.cli.core import APP_OPTION_HELP, existing_backend
from tayori.cli.output import echo, emit, fail, one_line_errors, stdin_is_terminal, table
from tayori.errors import ConfigError

QUEUE_HELP = "the source queue (or its DLQ itself)"
SHORT_ID = 8
_TASK = re.compile(r'^\{"v":\s*\d+,\s*"task":\s*"((?:[^"\\]|\\.)*)"')
POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"


def task_of(body_preview: str) -> str:
    """The task named by a dead letter's envelope, from the start of its body."""
    match = _TASK.match(body_preview)
    if match:
        return match.group(1)
    return "(claim-check body)" if POINTER in body_preview[:80] else "?"


def register(app: typer.Typer) -> None:
    dlq_app = typer.Typer(help="Inspect dead letters and move them back.", no_args_is_help=True)
    app.add_typer(dlq_app, name="dlq")

    @dlq_app.command("list")
    def dlq_list(
        queue: str = typer.Argument(..., help=QUEUE_HELP),
        limit: int = typer.Option(
            100, "--limit", min=1, max=10_000, help="dead letters to show at most"
        ),
        wide: bool = typer.Option(False, "--wide", help="full message ids (default: first 8)"),
        app_ref: str | None = typer.Option(
            None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP
        ),
        as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    ) -> None:
        """Show dead letters with the task and the reason each one failed.

        Listing receives each message once (its receive count goes up by one) and hands
        it straight back."""
        from tayori import dlq as ops

        with one_line_errors():
            _, dead = pair(existing_backend(app_ref), queue)
            letters = [d.to_dict() for d in ops.peek(dead, limit)]
            for letter in letters:
                letter["task"] = task_of(letter["body_preview"])
            data = {"queue": queue, "dlq": dead.name, "messages": letters}
            emit(data, as_json, lambda: _print_letters(data, wide))

    @dlq_app.command("redrive")
    def dlq_redrive(
        queue: str = typer.Argument(..., help=QUEUE_HELP),
        limit: int | None = typer.Option(
            None, "--limit", min=1, help="messages to move at most (default: all)"
        ),
        rate: float = typer.Option(500.0, "--rate", min=1, help="messages per second at most"),
        app_ref: str | None = typer.Option(
            None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP
        ),
        as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    ) -> None:
        """Move dead letters back to their source queue (new message ids, same keys)."""
        from tayori import dlq as ops

        with one_line_errors():
            source, dead = pair(existing_backend(app_ref), queue)
            moved = ops.redrive(dead, source, max_per_second=rate, limit=limit)
            data = {"from": dead.name, "to": source.name, "moved": moved}
            emit(data, as_json, lambda: echo(f"moved {moved} from {dead.name} to {source.name}"))

    @dlq_app.command("purge")
    def dlq_purge(
        queue: str = typer.Argument(..., help=QUEUE_HELP),
        yes: bool = typer.Option(
            False, "--yes", "-y", help="do not ask (required when stdin is not a terminal)"
        ),
        app_ref: str | None = typer.Option(
            None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP
        ),
        as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    ) -> None:
        """Delete every dead letter of QUEUE for good."""
        with one_line_errors():
            _, dead = pair(existing_backend(app_ref), queue)
            depth = dead.stats().total
            if not yes:
                if as_json or not stdin_is_terminal():
                    fail(f"purging {dead.name} deletes {depth} messages for good: pass --yes")
                typer.confirm(f"delete {depth} messages from {dead.name}?", abort=True)
            dead.purge()
            data = {"dlq": dead.name, "purged": depth}
            emit(data, as_json, lambda: echo(f"purged {depth} messages from {dead.name}"))


def pair(backend: Any, name: str) -> tuple[Any, Any]:
    """(source, dlq) for a source queue or a DLQ name."""
    queue = backend.get_queue(name)
    redrive = queue.spec().redrive
    if redrive is not None:
        return queue, backend.get_queue(redrive.dead_letter_queue)
    for other in backend.list_queues():
        spec = backend.get_queue(other).spec()
        if spec.redrive is not None and spec.redrive.dead_letter_queue == name:
            return backend.get_queue(other), queue
    raise ConfigError(f"queue {name!r} has no dead-letter queue and is no queue's DLQ")


def _print_letters(data: dict[str, Any], wide: bool) -> None:
    rows = [
        (
            m["message_id"] if wide else m["message_id"][:SHORT_ID],
            m["task"],
            m["error_type"],
            m["error"],
            m["receive_count"],
        )
        for m in data["messages"]
    ]
    table(
        f"{data['dlq']} ({len(rows)} shown)",
        ("message_id", "task", "error_type", "error", "receive_count"),
        rows,
    )
    echo(
        "(listing receives each message once: its receive count went up by one; "
        "--wide shows full ids)",
        err=True,
    )
