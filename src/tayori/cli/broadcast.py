"""``tayori broadcast failed|retry BID``: who did not get a broadcast, and re-send to them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tayori.cli.output import echo, emit, one_line_errors, table
from tayori.errors import ConfigError, NoSuchBroadcast

MAILER_HELP = (
    "module:attr of your Mailer, imported from the current directory "
    "(default: tayori.mail.default:mailer, templates in ./templates)"
)


def _store(mailer_spec: str | None) -> Any:
    """The mail store, without creating an embedded store that is not there."""
    from tayori.settings import Settings

    if mailer_spec:
        return _mailer(mailer_spec).store
    settings = Settings()
    if settings.scheme == "sqlite":
        from tayori.backends.sqlite.mail import SqliteMailStore

        where = Path(settings.sqlite_path)
        if not (where / "mail.db").is_file():
            raise ConfigError(f"no mail store at {where} (TAYORI_URL={settings.url})")
        return SqliteMailStore(where)
    from tayori.app import App
    from tayori.mail.broadcast import _default_store

    return _default_store(App("tayori-cli", settings=settings))


def _mailer(spec: str | None) -> Any:
    from tayori.mail.broadcast import load_mailer
    from tayori.settings import Settings

    if spec is None:
        settings = Settings()
        if settings.scheme == "sqlite" and not (Path(settings.sqlite_path) / "mail.db").is_file():
            raise ConfigError(
                f"no mail store at {settings.sqlite_path} (TAYORI_URL={settings.url})"
            )
    return load_mailer(spec or "tayori.mail.default:mailer")


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Recover a broadcast: list and re-send failed recipients.", no_args_is_help=True
    )
    app.add_typer(group, name="broadcast")

    @group.command("failed")
    def failed(
        broadcast_id: str = typer.Argument(..., help="the broadcast id (tayori status lists them)"),
        mailer_spec: str | None = typer.Option(None, "--app", help=MAILER_HELP),
        limit: int = typer.Option(1000, "--limit", min=1, help="recipients to list at most"),
        as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    ) -> None:
        """List the recipients whose send failed, with the reason. Exit 1 if there are any."""
        from tayori.mail.recovery import failed_recipients

        with one_line_errors():
            store = _store(mailer_spec)
            status = _status(store, broadcast_id)
            rows = failed_recipients(store, broadcast_id, limit)
            data = {
                "broadcast_id": broadcast_id,
                "failed": [r.to_dict() for r in rows],
                "status": status.to_dict(),
            }
            emit(data, as_json, lambda: _print_failed(data))
            if rows:
                raise typer.Exit(1)

    @group.command("retry")
    def retry(
        broadcast_id: str = typer.Argument(..., help="the broadcast id (tayori status lists them)"),
        mailer_spec: str | None = typer.Option(None, "--app", help=MAILER_HELP),
        as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    ) -> None:
        """Re-queue the failed recipients' sends from the DLQ (never a second copy to anyone
        already sent); a worker delivers them."""
        from tayori.mail.recovery import describe, retry_failed

        with one_line_errors():
            mailer = _mailer(mailer_spec)
            _status(mailer.store, broadcast_id)
            result = retry_failed(
                mailer.store,
                mailer.app.backend,
                broadcast_id,
                queue=mailer.deliver.queue,
                task=mailer.deliver.name,
                readable_buckets=mailer.app.settings.readable_buckets,
            )
            data = {"broadcast_id": broadcast_id, **result.to_dict()}
            emit(data, as_json, lambda: echo(f"broadcast {broadcast_id}: {describe(result)}"))


def _status(store: Any, broadcast_id: str) -> Any:
    status = store.status(broadcast_id)
    if status is None:
        raise NoSuchBroadcast(f"no broadcast {broadcast_id!r} in the mail store")
    return status


def _print_failed(data: dict[str, Any]) -> None:
    rows = [(r["recipient"], r["reason"]) for r in data["failed"]]
    status = data["status"] or {}
    table(
        f"broadcast {data['broadcast_id']}: {len(rows)} failed",
        ("recipient", "reason"),
        rows,
    )
    if status.get("pending"):
        echo(
            f"{status['pending']} recipients have no outcome yet: still queued, or their send "
            "is in the DLQ after repeated transient errors (tayori dlq list mail)",
            err=True,
        )
    if rows:
        echo(f"re-send to them: tayori broadcast retry {data['broadcast_id']}", err=True)
