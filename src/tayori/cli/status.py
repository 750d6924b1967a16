"""``tayori status``: queue depths, broadcasts and worker counters, once or ``--watch``."""

from __future__ import annotations

import json
import time
from typing import Any

import typer

from tayori.cli.output import make_table

QUEUE_COLUMNS = ("queue", "visible", "in_flight", "delayed", "dlq", "dlq_depth")
COUNTER_NAMES = (
    "succeeded",
    "failed",
    "dead_lettered",
    "duplicates_skipped",
    "records",
    "deleted",
    "timeouts",
)


def status_data(backend: Any) -> dict[str, Any]:
    """Everything ``status --json`` prints (the dashboard reads the same)."""
    data: dict[str, Any] = {
        "queues": queue_rows(backend),
        "broadcasts": broadcast_rows(backend),
    }
    directory = getattr(backend, "directory", None)
    if directory is not None:
        from tayori.runtime.counters import read_counters

        data["workers"] = read_counters(directory)
    else:  # on AWS the counters are CloudWatch metrics
        data["workers"] = None
    return data


def queue_rows(backend: Any) -> list[dict[str, Any]]:
    # look each queue up once: on AWS every get_queue is a GetQueueUrl call
    queues = {name: backend.get_queue(name) for name in backend.list_queues()}
    specs = {name: queue.spec() for name, queue in queues.items()}
    dlqs = {spec.redrive.dead_letter_queue for spec in specs.values() if spec.redrive}
    rows = []
    for name, queue in queues.items():
        if name in dlqs:
            continue
        stats = queue.stats()
        redrive = specs[name].redrive
        dlq = None
        if redrive is not None:  # a DLQ missing from the listing still raises, as before
            dlq = queues.get(redrive.dead_letter_queue) or backend.get_queue(
                redrive.dead_letter_queue
            )
        rows.append(
            {
                "queue": name,
                "visible": stats.visible,
                "in_flight": stats.in_flight,
                "delayed": stats.delayed,
                "dlq": redrive.dead_letter_queue if redrive else None,
                "dlq_depth": dlq.stats().total if dlq is not None else 0,
            }
        )
    return rows


def broadcast_rows(backend: Any) -> list[dict[str, Any]]:
    if hasattr(backend, "idempotency_table"):  # AWS: the DynamoDB mail table
        return _aws_broadcast_rows(backend)
    directory = getattr(backend, "directory", None)
    if directory is None or not (directory / "mail.db").exists():
        return []
    from tayori.backends.sqlite.mail import SqliteMailStore

    store = SqliteMailStore(directory)
    try:
        return [b.to_dict() for b in store.broadcasts()]
    finally:
        store.close()


def _aws_broadcast_rows(backend: Any) -> list[dict[str, Any]]:
    """Broadcasts from the DynamoDB mail table; none when the table does not exist
    (status only reads: it never creates the table)."""
    from tayori.backends.aws.mail import DynamoDBMailStore, mail_table_name
    from tayori.backends.aws.resources import table_exists

    client, table = backend.client("dynamodb"), mail_table_name(backend.idempotency_table)
    if not table_exists(client, table):
        return []
    return [b.to_dict() for b in DynamoDBMailStore(client, table).broadcasts()]


def busy(data: dict[str, Any]) -> bool:
    """Anything left to do: a message in a queue or a broadcast recipient pending."""
    waiting = any(q["visible"] or q["in_flight"] or q["delayed"] for q in data["queues"])
    return waiting or any(b.get("pending") for b in data["broadcasts"])


def render(data: dict[str, Any]) -> Any:
    """The status as one rich renderable (tables; every cell escaped)."""
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = [
        make_table("queues", QUEUE_COLUMNS, [[r[c] for c in QUEUE_COLUMNS] for r in data["queues"]])
    ]
    if data["broadcasts"]:
        cols = list(data["broadcasts"][0].keys())
        parts.append(
            make_table("broadcasts", cols, [[r[c] for c in cols] for r in data["broadcasts"]])
        )
    workers = data.get("workers")
    if workers is not None:
        c = workers["total"]
        parts.append(
            Text(
                f"workers: {workers['live']} running, {len(workers['workers'])} recorded; "
                + ", ".join(f"{name.replace('_', ' ')} {c[name]}" for name in COUNTER_NAMES)
            )
        )
    return Group(*parts)


def print_status(data: dict[str, Any]) -> None:
    from rich.console import Console

    Console(highlight=False).print(render(data))


def watch_status(backend: Any, interval: float, count: int | None, as_json: bool) -> dict:
    """Refresh every ``interval`` seconds until Ctrl-C (or ``count`` refreshes); exit 0 on
    Ctrl-C. JSON: one object per line, each with the time it was taken."""
    from rich.console import Console
    from rich.live import Live

    console = Console(highlight=False)
    data: dict[str, Any] = {"queues": []}
    shown = 0
    live = None
    if not as_json and console.is_terminal:
        live = Live(console=console, auto_refresh=False)
        live.start()
    try:
        while count is None or shown < count:
            if shown:
                time.sleep(interval)
            data = {"at": round(time.time(), 3), **status_data(backend)}
            shown += 1
            if as_json:
                typer.echo(json.dumps(data, sort_keys=True))
            elif live is not None:
                live.update(render(data), refresh=True)
            else:
                console.print(render(data))
    except KeyboardInterrupt:
        data["queues"] = []  # stopping a watch is not a failure
    finally:
        if live is not None:
            live.stop()
    return data
