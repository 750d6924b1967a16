"""Django email backend: what Django's SMTP backend would send, queued and sent by tayori.

settings.py::

    EMAIL_BACKEND = "tayori.contrib.django.EmailBackend"

For each message the backend does what ``django.core.mail.backends.smtp.EmailBackend``
does up to the ``sendmail`` call -- the envelope sender and recipients (Bcc included),
and the MIME bytes from Django's own ``message.message()`` -- and enqueues those bytes
as one ``mail.raw`` task instead of talking SMTP. The worker (or Lambda) hands them
unchanged to the transport, through the Mailer's rate limit and suppression list.

Because the bytes are built once, here, Django's generated ``Date`` and ``Message-ID``
are fixed at enqueue time: a retried or redelivered task sends the identical message,
and the task's idempotency key (one per enqueue) stops a second send. A body over the
queue's size limit (attachments) rides the claim-check like any large payload.

``fail_silently`` is Django's: it quiets failures to reach the queue (where the SMTP
backend quiets failures to reach the server); an invalid address or header raises
either way, as it does with the SMTP backend. Delivery failures happen later, in the
worker: they are retried and end in the dead-letter queue, not in the caller.
"""

from __future__ import annotations

import email.policy
import functools
import threading
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import EmailMessage

from tayori.errors import ConfigError, TayoriError


def wire(message: EmailMessage) -> tuple[str, list[str], bytes]:
    """(envelope sender, envelope recipients, bytes) exactly as Django's SMTP backend
    computes them for ``message`` on the installed Django version."""
    prep = getattr(_smtp(), "prep_address", None)
    if prep is not None:  # Django >= 6.0
        sender = prep(message.from_email)
        recipients = [prep(addr) for addr in message.recipients()]
        data = message.message(policy=email.policy.SMTP).as_bytes()
    else:  # Django 5.2
        from django.core.mail.message import sanitize_address

        encoding = message.encoding or settings.DEFAULT_CHARSET
        sender = sanitize_address(message.from_email, encoding)
        recipients = [sanitize_address(addr, encoding) for addr in message.recipients()]
        data = message.message().as_bytes(linesep="\r\n")
    return sender, recipients, data


@functools.cache
def _smtp() -> SMTPBackend:
    """One unconnected SMTP backend, only for its address preparation (no I/O)."""
    return SMTPBackend(fail_silently=True)


class EmailBackend(BaseEmailBackend):
    """Queue Django's messages for tayori's worker; the connection API is Django's."""

    def __init__(self, fail_silently: bool = False, mailer: Any = None, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self._spec = mailer
        self.mailer: Any = None
        self._lock = threading.RLock()

    def open(self) -> bool | None:
        """Load the Mailer (and its queue): ``True`` when this call did, ``False`` when it
        was open already, ``None`` when it failed and ``fail_silently`` is set."""
        if self.mailer is not None:
            return False
        try:
            self.mailer = _load(self._spec)
        except (TayoriError, OSError):
            if not self.fail_silently:
                raise
            return None
        return True

    def close(self) -> None:
        """Release the Mailer (its App's queue connections belong to the process)."""
        self.mailer = None

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Enqueue each message; return how many were enqueued (Django counts sends)."""
        if not email_messages:
            return 0
        with self._lock:
            new_connection = self.open()
            if self.mailer is None or new_connection is None:
                return 0
            sent = 0
            try:
                for message in email_messages:
                    if self._send(message):
                        sent += 1
            finally:
                if new_connection:
                    self.close()
        return sent

    def _send(self, message: EmailMessage) -> bool:
        if not message.recipients():
            return False
        sender, recipients, data = wire(message)  # raises like the SMTP backend does
        try:
            self.mailer.send_raw(sender, recipients, data)
        except (TayoriError, OSError):
            if not self.fail_silently:
                raise
            return False
        return True


def _load(spec: Any) -> Any:
    from tayori.contrib.django.conf import get_mailer
    from tayori.mail.broadcast import load_mailer

    mailer = get_mailer() if spec is None else load_mailer(spec)
    inner = getattr(mailer.transport, "transport", mailer.transport)  # rate-limit wrapper
    if not hasattr(inner, "send_raw"):
        raise ConfigError(f"{type(inner).__name__} has no send_raw(); Django mail needs it")
    return mailer
