"""The mail app ``tayori send`` and ``tayori worker --app tayori.mail.default:app`` share
when the user has not written their own: embedded backend from the settings,
templates from ``./templates`` (``TAYORI_TEMPLATES`` is not read: pass ``--templates``),
mail written as ``.eml`` files to ``<tayori dir>/outbox``."""

from __future__ import annotations

from pathlib import Path

from tayori.app import App
from tayori.mail.broadcast import Mailer
from tayori.mail.templates import Templates
from tayori.mail.transports.file import FileTransport
from tayori.settings import Settings

DEFAULT_SENDER = "tayori@example.com"


def build(settings: Settings | None = None, templates: str | Path = "templates") -> Mailer:
    settings = settings or Settings()
    app = App("tayori-mail", settings=settings)
    outbox = Path(settings.sqlite_path) / "outbox"
    return Mailer(
        app,
        transport=FileTransport(outbox),
        templates=Templates(templates),
        sender=DEFAULT_SENDER,
    )


mailer = build()
app = mailer.app
