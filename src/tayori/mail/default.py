"""The mail app ``tayori send`` and ``tayori worker --app tayori.mail.default:app`` share
when the user has not written their own: the backend from the settings, templates from
``./templates``. Embedded: mail written as ``.eml`` files to ``<tayori dir>/outbox``.
AWS: mail sent through Amazon SES v2 (same region and endpoint as the backend), outcomes
in the DynamoDB mail table. A real deployment usually wants its own Mailer (sender, rate
limit, unsubscribe): pass ``--app module:mailer``."""

from __future__ import annotations

from pathlib import Path

from tayori.app import App
from tayori.mail.broadcast import Mailer
from tayori.mail.templates import Templates
from tayori.mail.transports.base import Transport
from tayori.mail.transports.file import FileTransport
from tayori.settings import Settings

DEFAULT_SENDER = "tayori@example.com"


def build(settings: Settings | None = None, templates: str | Path = "templates") -> Mailer:
    settings = settings or Settings()
    app = App("tayori-mail", settings=settings)
    transport: Transport
    if settings.scheme == "aws":
        from tayori.mail.transports.ses import SESTransport

        transport = SESTransport(region=settings.region, endpoint_url=settings.endpoint_url)
    else:
        transport = FileTransport(Path(settings.sqlite_path) / "outbox")
    return Mailer(
        app,
        transport=transport,
        templates=Templates(templates),
        sender=DEFAULT_SENDER,
    )


_built: list[Mailer] = []


def __getattr__(name: str) -> object:
    """``mailer`` and ``app`` are built on first use, not at import: importing this
    module must not create ``./.tayori/mail.db`` or an outbox as a side effect."""
    if name not in ("mailer", "app"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _built:
        _built.append(build())
    return _built[0] if name == "mailer" else _built[0].app
