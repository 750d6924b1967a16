"""Core commands: demo, worker, status, dlq.

Exit codes: 0 success, 1 the job ran but something failed, 2 bad usage or input.
Errors are one line on stderr; ``tayori --debug ...`` adds the traceback.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from tayori.errors import (
    ConfigError,
    InvalidParameterValue,
    QueueDoesNotExist,
    QueueNameInvalid,
    ResourcesMissing,
    TayoriError,
)

_state = {"debug": False}

APP_OPTION_HELP = "package.module:app of your tayori App (default: the mail app in ./templates)"
DEFAULT_APP = "tayori.mail.default:app"


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"tayori: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """TayoriError -> one line on stderr and exit 2 (bad input) or 1 (the job failed)."""
    try:
        yield
    except typer.Exit:
        raise
    except (ConfigError, QueueDoesNotExist, QueueNameInvalid, InvalidParameterValue) as exc:
        if _state["debug"]:
            raise
        fail(str(exc), 2)
    except TayoriError as exc:
        if _state["debug"]:
            raise
        fail(f"{type(exc).__name__}: {exc}", 1)
    except KeyboardInterrupt:
        fail("interrupted", 130)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
    else:
        render()


def _app_from(ref: str | None) -> Any:
    from tayori.runtime.workers import load_app

    sys.path.insert(0, ".")
    try:
        return load_app(ref or DEFAULT_APP)
    finally:
        sys.path.pop(0)


def _backend(ref: str | None) -> Any:
    """The backend of ``--app`` if given, else straight from the settings (no app import).

    For the commands that read or move what exists (status, dlq): an embedded store
    that does not exist yet is not created; None stands for it."""
    if ref:
        return _app_from(ref).backend
    from tayori.backends import open_backend
    from tayori.settings import Settings

    settings = Settings()
    if settings.scheme == "sqlite" and not Path(settings.sqlite_path).is_dir():
        return None
    return open_backend(settings)


def _existing(backend: Any, queue: str) -> Any:
    from tayori.backends.base import check_queue_name

    check_queue_name(queue)
    if backend is None:
        raise QueueDoesNotExist(
            f"queue {queue!r} does not exist: no embedded store here yet (`tayori setup` "
            "creates it)"
        )
    return backend


def register(app: typer.Typer) -> None:
    """Add the core commands to the `tayori` app."""

    @app.callback()
    def main(
        debug: bool = typer.Option(False, "--debug", help="show tracebacks on errors"),
    ) -> None:
        """Bulk email and heavy async work on the Lambda x SQS model."""
        _state["debug"] = debug

    @app.command()
    def demo(
        recipients: int = typer.Option(10_000, "--recipients", "-n", min=1, max=2_000_000),
        latency_ms: float = typer.Option(50.0, "--latency-ms", min=0, max=10_000),
        concurrency: int = typer.Option(100, "--concurrency", "-c", min=1, max=2000),
        chaos: bool = typer.Option(
            False, "--chaos", help="inject duplicate deliveries, transient errors, a killed batch"
        ),
        seed: int | None = typer.Option(None, "--seed", help="make --chaos repeatable"),
        as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON object"),
    ) -> None:
        """Broadcast to N generated recipients on the embedded default, through a simulated
        provider, and report what happened."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        from tayori.demo import run_demo

        err = Console(stderr=True)
        with one_line_errors():
            if as_json:
                summary = run_demo(recipients, latency_ms, concurrency, chaos=chaos, seed=seed)
            else:
                with Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=err,
                ) as bar:
                    task = bar.add_task("sending", total=recipients)
                    summary = run_demo(
                        recipients,
                        latency_ms,
                        concurrency,
                        chaos=chaos,
                        seed=seed,
                        on_progress=lambda sent, total: bar.update(task, completed=sent),
                    )
            data = {k: v for k, v in summary.to_dict().items() if v is not None}
            emit(data, as_json, lambda: _print_summary(data))
            if not summary.ok:
                raise typer.Exit(1)

    @app.command()
    def worker(
        app_ref: str | None = typer.Option(
            None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP
        ),
        processes: int = typer.Option(1, "--processes", "-p", min=1, max=64),
        concurrency: int = typer.Option(10, "--concurrency", "-c", min=1, max=2000),
        batch_size: int = typer.Option(10, "--batch-size", "-b", min=1, max=10_000),
        batching_window: float = typer.Option(0.0, "--batching-window", min=0, max=300),
        function_timeout: float = typer.Option(30.0, "--function-timeout", min=0.1, max=900),
        queue: list[str] = typer.Option([], "--queue", "-q", help="queues to poll (default all)"),
        as_json: bool = typer.Option(False, "--json", help="print run stats as JSON on exit"),
    ) -> None:
        """Run the local event-source-mapping emulator until SIGINT/SIGTERM."""
        from tayori.runtime.local import RuntimeConfig
        from tayori.runtime.workers import run_in_this_process, run_processes

        with one_line_errors():
            config = RuntimeConfig(
                concurrency=concurrency,
                batch_size=batch_size,
                batching_window=batching_window,
                function_timeout=function_timeout,
                queues=tuple(queue) or None,
            )
            ref = app_ref or DEFAULT_APP
            the_app = _app_from(ref)
            names = list(config.queues or the_app.queue_names)
            check_resources(the_app, names, ref)
            typer.echo(
                f"tayori worker: {the_app.name} polling {', '.join(names)} with {processes} "
                f"process(es) x {concurrency} concurrency; Ctrl-C stops gracefully",
                err=True,
            )
            if processes == 1:
                import signal

                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                signal.signal(signal.SIGINT, lambda *_: stop.set())
                stats = [run_in_this_process(the_app, config, stop)]
            else:
                stats = run_processes(ref, processes, config)
            total = {
                k: sum(s.get(k, 0) for s in stats)
                for k in ("invocations", "records", "deleted", "failed_records", "timeouts")
            }
            emit(
                {"processes": stats, "total": total},
                as_json,
                lambda: typer.echo(f"tayori worker stopped: {total}", err=True),
            )

    @app.command()
    def status(
        app_ref: str | None = typer.Option(
            None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP
        ),
        as_json: bool = typer.Option(False, "--json"),
        wait: float = typer.Option(
            0, "--wait", min=0, max=86_400, metavar="S", help="wait up to S seconds to drain"
        ),
    ) -> None:
        """Per queue: visible, in flight, delayed, DLQ depth; broadcasts' sent/failed/suppressed.

        ``--wait S`` first waits (up to S seconds) until no queue holds a message and no
        broadcast is pending; exit 1 if that did not happen (or a DLQ is not empty)."""
        import time

        with one_line_errors():
            backend = _backend(app_ref)
            deadline = time.monotonic() + wait
            while True:
                queues = _queue_rows(backend) if backend is not None else []
                broadcasts = _broadcast_rows(backend) if backend is not None else []
                busy = _busy(queues, broadcasts)
                if not busy or time.monotonic() >= deadline:
                    break
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            data = {"queues": queues, "broadcasts": broadcasts}
            emit(data, as_json, lambda: _print_status(data))
            if wait and busy:
                typer.echo(f"tayori: not drained after {wait:g}s", err=True)
                raise typer.Exit(1)
            if any(q["dlq_depth"] for q in queues):
                raise typer.Exit(1)

    dlq_app = typer.Typer(help="Inspect dead letters and move them back.", no_args_is_help=True)
    app.add_typer(dlq_app, name="dlq")

    @dlq_app.command("list")
    def dlq_list(
        queue: str = typer.Argument(..., help="source queue (or the DLQ itself)"),
        limit: int = typer.Option(100, "--limit", min=1, max=10_000),
        app_ref: str | None = typer.Option(None, "--app", envvar="TAYORI_APP"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Show dead letters with the reason each one failed."""
        from tayori import dlq as ops

        with one_line_errors():
            backend = _existing(_backend(app_ref), queue)
            _, dead = _pair(backend, queue)
            letters = [d.to_dict() for d in ops.peek(dead, limit)]
            data = {"queue": queue, "dlq": dead.name, "messages": letters}
            emit(data, as_json, lambda: _print_letters(data))

    @dlq_app.command("redrive")
    def dlq_redrive(
        queue: str = typer.Argument(..., help="source queue (or the DLQ itself)"),
        limit: int | None = typer.Option(None, "--limit", min=1),
        rate: float = typer.Option(500.0, "--rate", min=1, help="messages per second at most"),
        app_ref: str | None = typer.Option(None, "--app", envvar="TAYORI_APP"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Move dead letters back to their source queue (new message ids, same keys)."""
        from tayori import dlq as ops

        with one_line_errors():
            backend = _existing(_backend(app_ref), queue)
            source, dead = _pair(backend, queue)
            moved = ops.redrive(dead, source, max_per_second=rate, limit=limit)
            data = {"from": dead.name, "to": source.name, "moved": moved}
            emit(
                data,
                as_json,
                lambda: typer.echo(f"moved {moved} from {dead.name} to {source.name}"),
            )

    @dlq_app.command("purge")
    def dlq_purge(
        queue: str = typer.Argument(..., help="source queue (or the DLQ itself)"),
        yes: bool = typer.Option(False, "--yes", "-y", help="do not ask"),
        app_ref: str | None = typer.Option(None, "--app", envvar="TAYORI_APP"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Delete every dead letter of QUEUE for good."""
        with one_line_errors():
            backend = _existing(_backend(app_ref), queue)
            _, dead = _pair(backend, queue)
            depth = dead.stats().total
            if not yes and not as_json and sys.stdin.isatty():
                typer.confirm(f"delete {depth} messages from {dead.name}?", abort=True)
            dead.purge()
            data = {"dlq": dead.name, "purged": depth}
            emit(data, as_json, lambda: typer.echo(f"purged {depth} messages from {dead.name}"))


# -------------------------------------------------------------------------- helpers


def _pair(backend: Any, name: str) -> tuple[Any, Any]:
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


def _queue_rows(backend: Any) -> list[dict[str, Any]]:
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


def _busy(queues: list[dict[str, Any]], broadcasts: list[dict[str, Any]]) -> bool:
    """Anything left to do: a message in a queue or a broadcast recipient pending."""
    waiting = any(q["visible"] or q["in_flight"] or q["delayed"] for q in queues)
    return waiting or any(b.get("pending") for b in broadcasts)


def check_resources(app: Any, queues: list[str], ref: str) -> None:
    """Stop before polling when the bucket, tables or queues are missing (ResourcesMissing:
    one line naming them and the `tayori setup` command that creates them, exit 2)."""
    check = getattr(app.backend, "check_resources", None)
    if check is None:
        return
    try:
        check(tables=_mail_tables(app), queues=queues)
    except ResourcesMissing as exc:
        if not exc.missing:
            raise
        message = str(exc).replace("`tayori setup`", f"`tayori setup --app {ref}`")
        raise ResourcesMissing(message, missing=exc.missing) from None


def _mail_tables(app: Any) -> list[str]:
    """The DynamoDB tables of the Mailers whose tasks the app runs."""
    tables = set()
    for task in app.tasks.values():
        store = getattr(getattr(task.fn, "__self__", None), "store", None)
        table = getattr(store, "table", None)
        if isinstance(table, str):
            tables.add(table)
    return sorted(tables)


def _broadcast_rows(backend: Any) -> list[dict[str, Any]]:
    if hasattr(backend, "idempotency_table"):  # AWS: the DynamoDB mail table
        return _aws_broadcast_rows(backend)
    directory = getattr(backend, "directory", None)
    if directory is None or not (directory / "mail.db").exists():
        return []
    from tayori.mail.store import SqliteMailStore

    store = SqliteMailStore(directory)
    try:
        return [b.to_dict() for b in store.broadcasts()]
    finally:
        store.close()


def _aws_broadcast_rows(backend: Any) -> list[dict[str, Any]]:
    """Broadcasts from the DynamoDB mail table; none when the table does not exist
    (status only reads: it never creates the table)."""
    from tayori.backends.aws.resources import table_exists
    from tayori.mail.store_dynamodb import DynamoDBMailStore, mail_table_name

    client, table = backend.client("dynamodb"), mail_table_name(backend.idempotency_table)
    if not table_exists(client, table):
        return []
    return [b.to_dict() for b in DynamoDBMailStore(client, table).broadcasts()]


def _print_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tayori demo", show_header=False)
    for key, value in data.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    Console().print(table)


def _print_status(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="queues")
    for col in ("queue", "visible", "in_flight", "delayed", "dlq", "dlq_depth"):
        table.add_column(col)
    for row in data["queues"]:
        table.add_row(
            *(str(row[c]) for c in ("queue", "visible", "in_flight", "delayed", "dlq", "dlq_depth"))
        )
    console.print(table)
    if data["broadcasts"]:
        btable = Table(title="broadcasts")
        cols = list(data["broadcasts"][0].keys())
        for col in cols:
            btable.add_column(col)
        for row in data["broadcasts"]:
            btable.add_row(*(str(row[c]) for c in cols))
        console.print(btable)


def _print_letters(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{data['dlq']} ({len(data['messages'])} shown)")
    for col in ("message_id", "error_type", "error", "receive_count"):
        table.add_column(col)
    for m in data["messages"]:
        table.add_row(
            m["message_id"], str(m["error_type"]), str(m["error"]), str(m["receive_count"])
        )
    Console().print(table)
