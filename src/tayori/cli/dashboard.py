"""``tayori dashboard``: the web page for queues, dead letters and broadcasts."""

from __future__ import annotations

import importlib.util
from typing import Any

import typer

from tayori.cli.core import fail, one_line_errors

INSTALL_HINT = "the dashboard needs its extra: pip install 'tayori[dashboard]'"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    """Add the dashboard command to the `tayori` app."""

    @app.command()
    def dashboard(
        host: str = typer.Option(
            "127.0.0.1", "--host", help="address to listen on (anything but loopback exposes it)"
        ),
        port: int = typer.Option(8025, "--port", min=1, max=65535, help="TCP port"),
        app_ref: str | None = typer.Option(
            None,
            "--app",
            envvar="TAYORI_APP",
            help="package.module:attr of your App or Mailer (default: the backend "
            "TAYORI_URL names, mail queue 'mail')",
        ),
        interval: float = typer.Option(
            1.0, "--interval", min=0.1, max=300, help="seconds between queue-depth samples"
        ),
    ) -> None:
        """Serve the dashboard: queue depth over time, dead letters (browse, redrive, purge),
        broadcasts' progress and failed recipients (retry). Ctrl-C stops it."""
        if not all(importlib.util.find_spec(m) for m in ("starlette", "uvicorn", "multipart")):
            fail(INSTALL_HINT)
        import uvicorn

        with one_line_errors():
            _check_can_listen(host, port)
            config = build_config(app_ref, interval)
            web = _web_app(config, host)
            shown = f"[{host}]" if ":" in host else host
            typer.echo(f"tayori dashboard: http://{shown}:{port}/  (Ctrl-C stops)", err=True)
            if host not in LOCAL_HOSTS:
                typer.echo(
                    "tayori dashboard: warning: listening beyond this machine; the page has "
                    "no login, so put it behind your own access control",
                    err=True,
                )
            uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False)


def build_config(app_ref: str | None, interval: float) -> Any:
    """Backend, mail store and the Mailer's names from ``--app`` (or the settings)."""
    from tayori.dashboard.sampler import Sampler
    from tayori.dashboard.server import Config
    from tayori.dashboard.sources import Sources

    mailer = None
    if app_ref:
        from tayori.loader import load_object
        from tayori.runtime.workers import load_app

        mailer = _mailer_of(load_object(app_ref))
        the_app = load_app(app_ref) if mailer is None else mailer.app
        backend, settings = the_app.backend, the_app.settings
    else:
        from tayori.backends import open_backend
        from tayori.settings import Settings

        settings = Settings()
        backend = open_backend(settings)
    sources = Sources(backend, settings, mailer.store if mailer is not None else None)
    config = Config(sources=sources, sampler=Sampler(sources, interval))
    if mailer is not None:
        config.mail_queue = mailer.deliver.queue
        config.send_task = mailer.deliver.name
    if settings.scheme == "aws":
        from tayori.dashboard.cloudwatch import History

        config.history = History(backend.client("cloudwatch"), sources.refresh)
    return config


def _check_can_listen(host: str, port: int) -> None:
    """A busy port or a foreign address is bad input: one line and exit 2 (uvicorn alone
    would log an error and exit 3)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _web_app(config: Any, host: str) -> Any:
    from tayori.dashboard.server import create_app

    if host in LOCAL_HOSTS:
        allowed = ["127.0.0.1", "localhost", "[::1]", "::1"]
    elif host in ("0.0.0.0", "::"):
        allowed = ["*"]
    else:
        allowed = [host, f"[{host}]"]
    return create_app(config, allowed_hosts=allowed)


def _mailer_of(obj: Any) -> Any:
    from tayori.mail.broadcast import Mailer

    if isinstance(obj, Mailer):
        return obj
    inner = getattr(obj, "mailer", None)
    return inner if isinstance(inner, Mailer) else None
