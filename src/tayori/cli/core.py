"""Core commands: demo, worker, status.

Exit codes: 0 success, 1 the job ran but something failed, 2 bad usage or input.
Errors are one line on stderr; ``tayori --debug ...`` adds the traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import typer

from tayori.cli.output import echo, emit, fail, one_line_errors, state
from tayori.cli.status import print_status, status_data
from tayori.errors import ConfigError, ResourcesMissing

APP_OPTION_HELP = (
    "package.module:app of your tayori App, imported from the current directory "
    "(default: the mail app in ./templates)"
)
DEFAULT_APP = "tayori.mail.default:app"

__all__ = ["DEFAULT_APP", "app_from", "existing_backend", "fail", "one_line_errors", "register"]


def app_from(ref: str | None) -> Any:
    """Import ``ref`` with the current directory first on sys.path, as ``python -m`` does."""
    from tayori.runtime.workers import load_app

    sys.path.insert(0, os.getcwd())
    try:
        return load_app(ref or DEFAULT_APP)
    finally:
        sys.path.pop(0)


def existing_backend(ref: str | None) -> Any:
    """The backend of ``--app`` (or of the settings), refusing to create an embedded store.

    Read-only commands use this: a mistyped ``TAYORI_URL`` must be an error, not a new
    empty store that reports "nothing to do".
    """
    from tayori.settings import Settings

    the_app = app_from(ref) if ref else None
    settings = the_app.settings if the_app is not None else Settings()
    if settings.scheme == "sqlite":
        where = Path(settings.sqlite_path)
        if not (where / "queues.db").is_file():
            raise ConfigError(
                f"no tayori store at {where} (TAYORI_URL={settings.url}); "
                "a send or a worker creates it"
            )
    if the_app is not None:
        return the_app.backend
    from tayori.backends import open_backend

    return open_backend(settings)


def _version(value: bool) -> None:
    if value:
        import tayori

        typer.echo(f"tayori {tayori.__version__}")
        raise typer.Exit()


def register(app: typer.Typer) -> None:
    """Add the core commands to the `tayori` app."""
    app.callback()(main)
    app.command()(demo)
    app.command()(worker)
    app.command()(status)


# -------------------------------------------------------------------------- worker


FORCED_MESSAGE = "tayori: forced stop; in-flight messages return after their visibility timeout\n"


def _run_here(the_app: Any, config: Any, until_idle: bool) -> dict[str, Any]:
    """One process: the first Ctrl-C stops gracefully, a second one exits at once."""
    from tayori.runtime.stopflag import StopFlag
    from tayori.runtime.workers import FORCED_EXIT, run_in_this_process

    stop = StopFlag()  # set from a signal handler: no lock (see runtime.stopflag)

    def on_signal(*_: Any) -> None:
        if stop.is_set():
            # os.write: the buffered stderr has a lock the interrupted thread may hold
            os.write(2, FORCED_MESSAGE.encode())
            os._exit(FORCED_EXIT)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return run_in_this_process(the_app, config, stop, until_idle=until_idle)


COUNTERS = ("invocations", "records", "deleted", "failed_records", "function_errors", "timeouts")


def worker_report(stats: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {k: sum(s.get(k, 0) for s in stats) for k in COUNTERS}
    total["peak_concurrency"] = sum(s.get("peak_concurrency", 0) for s in stats)
    total["elapsed_s"] = max((s.get("elapsed_s", 0.0) for s in stats), default=0.0)
    for s in stats:
        for name, n in s.get("handler", {}).items():
            total[name] = total.get(name, 0) + n
    return {"processes": stats, "total": total}


def worker_summary(report: dict[str, Any], processes: int) -> str:
    t = report["total"]
    return (
        f"tayori worker stopped after {t['elapsed_s']:.1f} s ({processes} process(es)): "
        f"{t['records']} records in {t['invocations']} invocations; {t['deleted']} done, "
        f"{t['failed_records']} to retry, {t['timeouts']} timed out; "
        f"{t.get('succeeded', 0)} succeeded, {t.get('dead_lettered', 0)} dead-lettered, "
        f"{t.get('duplicates_skipped', 0)} duplicates skipped; "
        f"peak concurrency {t['peak_concurrency']}"
    )


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


def _print_summary(data: dict[str, Any]) -> None:
    import json

    from tayori.cli.output import table

    rows = [(k, json.dumps(v) if isinstance(v, dict) else v) for k, v in data.items()]
    table("tayori demo", ("", ""), rows, show_header=False)


def main(
    debug: bool = typer.Option(False, "--debug", help="show tracebacks on errors"),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="print the version and exit",
    ),
) -> None:
    """Bulk email and heavy async work on the Lambda x SQS model."""
    state["debug"] = debug


def demo(
    recipients: int = typer.Option(
        10_000, "--recipients", "-n", min=1, max=2_000_000, help="recipients to generate"
    ),
    latency_ms: float = typer.Option(
        50.0, "--latency-ms", min=0, max=10_000, help="simulated provider latency, ms per send"
    ),
    concurrency: int = typer.Option(
        100, "--concurrency", "-c", min=1, max=2000, help="concurrent executions (threads)"
    ),
    chaos: bool = typer.Option(
        False, "--chaos", help="inject duplicate deliveries, transient errors, a killed batch"
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="random seed: the same seed injects the same --chaos counts"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON object"),
) -> None:
    """Broadcast to N generated recipients on the embedded default, through a simulated
    provider, and report what happened."""
    from tayori.cli.demo_view import run_with_progress
    from tayori.settings import Settings

    with one_line_errors():
        Settings(url="sqlite:///./.tayori")  # the demo's own store, but the rest from env
        summary = run_with_progress(
            recipients, latency_ms, concurrency, chaos=chaos, seed=seed, quiet=as_json
        )
        data = {k: v for k, v in summary.to_dict().items() if v is not None}
        emit(data, as_json, lambda: _print_summary(data))
        if not summary.ok:
            raise typer.Exit(1)


def worker(
    app_ref: str | None = typer.Option(None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP),
    processes: int = typer.Option(
        1, "--processes", "-p", min=1, max=64, help="worker processes (each polls on its own)"
    ),
    concurrency: int = typer.Option(
        10, "--concurrency", "-c", min=1, max=2000, help="concurrent executions per process"
    ),
    batch_size: int = typer.Option(
        10, "--batch-size", "-b", min=1, max=10_000, help="messages per invocation at most"
    ),
    batching_window: float = typer.Option(
        0.0, "--batching-window", min=0, max=300, help="seconds to gather a fuller batch"
    ),
    function_timeout: float = typer.Option(
        30.0, "--function-timeout", min=0.1, max=900, help="seconds an invocation may run"
    ),
    queue: list[str] = typer.Option(
        [], "--queue", "-q", help="a queue to poll (repeatable; default: every task's queue)"
    ),
    create: bool = typer.Option(
        False, "--create", help="allow --queue names no task of the app uses (creates them)"
    ),
    until_idle: bool = typer.Option(
        False,
        "--until-idle",
        help="exit once every polled queue is empty and nothing runs (for scripts, cron)",
    ),
    pin_cpu: bool = typer.Option(
        True,
        "--pin-cpu/--no-pin-cpu",
        help="run each process's threads on one CPU it claims (one GIL per core: about "
        "half the CPU per message on 2 cores)",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the run's stats as JSON on exit"),
) -> None:
    """Run the local event-source-mapping emulator until Ctrl-C (graceful; twice forces)."""
    from tayori.runtime.local import RuntimeConfig
    from tayori.runtime.workers import FORCED_EXIT, run_processes

    with one_line_errors():
        config = RuntimeConfig(
            concurrency=concurrency,
            batch_size=batch_size,
            batching_window=batching_window,
            function_timeout=function_timeout,
            queues=tuple(queue) or None,
            pin_cpu=pin_cpu,
        )
        ref = app_ref or DEFAULT_APP
        the_app = app_from(ref)
        unknown = sorted(set(queue) - set(the_app.queue_names))
        if unknown and not create:
            raise ConfigError(
                f"no task of app {the_app.name!r} uses queue {', '.join(unknown)} (its "
                f"queues: {', '.join(the_app.queue_names) or 'none'}); "
                "--create polls it anyway"
            )
        names = list(config.queues or the_app.queue_names)
        check_resources(the_app, names, ref)
        echo(
            f"tayori worker: {the_app.name} polling {', '.join(names)} with {processes} "
            f"process(es) x {concurrency} concurrency; Ctrl-C stops gracefully, twice forces",
            err=True,
        )
        if processes == 1:
            stats, errors, forced = [_run_here(the_app, config, until_idle)], [], False
        else:
            pool = run_processes(
                ref, processes, config, import_path=[os.getcwd()], until_idle=until_idle
            )
            stats, errors, forced = pool.stats, pool.errors, pool.forced
        report = worker_report(stats)
        emit(report, as_json, lambda: echo(worker_summary(report, processes), err=True))
        for line in errors:
            echo(f"tayori: {line}", err=True)
        if forced:
            echo(FORCED_MESSAGE.rstrip(), err=True)
            raise typer.Exit(FORCED_EXIT)
        if errors:
            raise typer.Exit(1)


def status(
    app_ref: str | None = typer.Option(None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP),
    watch: bool = typer.Option(False, "--watch", "-w", help="refresh until Ctrl-C"),
    interval: float = typer.Option(
        2.0, "--interval", min=0.1, max=3600, help="seconds between refreshes with --watch"
    ),
    count: int | None = typer.Option(
        None, "--count", min=1, help="with --watch: stop after this many refreshes"
    ),
    as_json: bool = typer.Option(
        False, "--json", help="one JSON object (with --watch: one per line)"
    ),
    wait: float = typer.Option(
        0,
        "--wait",
        min=0,
        max=86_400,
        metavar="S",
        help="first wait up to S seconds until nothing is queued or pending",
    ),
) -> None:
    """Per queue: visible, in flight, delayed, DLQ depth; broadcasts' sent/failed/suppressed;
    the workers' counters (embedded store). Exit 1 when a DLQ holds messages, or when
    ``--wait S`` ran out before the queues drained."""
    import time

    from tayori.cli.status import busy, watch_status

    with one_line_errors():
        backend = existing_backend(app_ref)
        if watch:
            data = watch_status(backend, interval, count, as_json)
        else:
            deadline = time.monotonic() + wait
            data = status_data(backend)
            while wait and busy(data) and time.monotonic() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                data = status_data(backend)
            emit(data, as_json, lambda: print_status(data))
            if wait and busy(data):
                echo(f"tayori: not drained after {wait:g}s", err=True)
                raise typer.Exit(1)
        if any(q["dlq_depth"] for q in data["queues"]):
            raise typer.Exit(1)
