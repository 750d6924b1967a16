"""``tayori setup``: create the queues, DLQs, bucket and tables the configured backend needs."""

from __future__ import annotations

from typing import Any

import typer

from tayori.cli.core import APP_OPTION_HELP, emit, one_line_errors


def register(app: typer.Typer) -> None:
    """Add `tayori setup` to the `tayori` app."""

    @app.command("setup")
    def setup(
        app_ref: str | None = typer.Option(
            None, "--app", envvar="TAYORI_APP", help=APP_OPTION_HELP
        ),
        queue: list[str] = typer.Option(
            [], "--queue", "-q", help="also set up this queue (repeat)"
        ),
        function_timeout: float = typer.Option(
            60.0,
            "--function-timeout",
            min=1,
            max=900,
            help="the Lambda function's timeout in seconds",
        ),
        batching_window: float = typer.Option(
            0.0, "--batching-window", min=0, max=300, help="the ESM's batching window in seconds"
        ),
        visibility_timeout: int | None = typer.Option(
            None,
            "--visibility-timeout",
            min=0,
            max=43_200,
            help="in seconds (default: 6 x timeout + window)",
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="only say what would be created"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Create what the backend needs (queues + DLQs, bucket, tables); safe to re-run."""
        from tayori.deploy.setup import run_setup

        with one_line_errors():
            settings, factory, names = _target(app_ref)
            steps = run_setup(
                settings,
                factory,
                [*names, *queue],
                function_timeout=function_timeout,
                batching_window=batching_window,
                visibility_timeout=visibility_timeout,
                dry_run=dry_run,
            )
            rows = [s.to_dict() for s in steps]
            emit({"dry_run": dry_run, "resources": rows}, as_json, lambda: _print(rows))


def _target(app_ref: str | None) -> tuple[Any, Any, list[str]]:
    """(settings, backend factory, the app's queues); without ``--app`` the settings alone
    (nothing is imported, so a dry run touches nothing)."""
    from tayori.cli.core import app_from

    if app_ref is None:
        from tayori.backends import open_backend
        from tayori.settings import Settings

        settings = Settings()
        return settings, lambda: open_backend(settings), []
    the_app = app_from(app_ref)
    return the_app.settings, lambda: the_app.backend, list(the_app.queue_names)


def _print(rows: list[dict[str, str]]) -> None:
    width = max(len(f"{r['kind']} {r['name']}") for r in rows)
    for r in rows:
        what = f"{r['kind']} {r['name']}"
        detail = f"  ({r['detail']})" if r["detail"] else ""
        typer.echo(f"{what:<{width}}  {r['action']}{detail}")
