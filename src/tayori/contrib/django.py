"""Django email backend: ``send_mail()`` / ``send_mass_mail()`` go through tayori.

settings.py::

    EMAIL_BACKEND = "tayori.contrib.django.EmailBackend"
    TAYORI_MAILER = "myproject.mail:mailer"   # a tayori.mail.Mailer (or the object itself)

Each Django message becomes one queued ``mail.message`` task; the worker (or Lambda)
sends it through the Mailer's transport, rate limit and suppression list. The
return value counts messages enqueued, as Django's SMTP backend counts messages sent.
Attachments are not carried (bulk notices do not need them): such a message is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage as DjangoMessage

from tayori.mail.broadcast import Mailer, load_mailer
from tayori.mail.message import InvalidMessage, Message

DEFAULT_MAILER = "tayori.mail.default:mailer"


def to_tayori(message: DjangoMessage) -> Message:
    """Convert one Django message; raise ``InvalidMessage`` for what tayori cannot carry."""
    if message.attachments:
        raise InvalidMessage("tayori's Django backend does not carry attachments")
    text: str | None = None
    html: str | None = None
    if message.content_subtype == "html":
        html = message.body
    else:
        text = message.body
    for content, mimetype in getattr(message, "alternatives", None) or []:
        if mimetype == "text/html" and html is None:
            html = content if isinstance(content, str) else content.decode("utf-8")
    headers = {str(k): str(v) for k, v in (message.extra_headers or {}).items()}
    sender = headers.pop("From", None) or message.from_email or settings.DEFAULT_FROM_EMAIL
    for reserved in ("To", "Cc", "Reply-To", "Subject"):
        headers.pop(reserved, None)
    return Message(
        sender=sender,
        to=tuple(message.to),
        cc=tuple(message.cc),
        bcc=tuple(message.bcc),
        subject=str(message.subject),
        text=text,
        html=html,
        reply_to=message.reply_to[0] if message.reply_to else None,
        headers=headers,
    )


class EmailBackend(BaseEmailBackend):
    def __init__(
        self, fail_silently: bool = False, mailer: Mailer | str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self._spec = mailer or getattr(settings, "TAYORI_MAILER", DEFAULT_MAILER)
        self._mailer: Mailer | None = None

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = load_mailer(self._spec)
        return self._mailer

    def send_messages(self, email_messages: Sequence[DjangoMessage]) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                self.mailer.send(to_tayori(message))
            except Exception:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent
