"""The transport protocol: send one validated message, or raise the error taxonomy.

``RetryLater`` for anything that may work later (4xx, throttling, connection trouble),
``PermanentError`` for what never will (5xx, rejected, invalid address). Transports
never raise library exceptions, so the task code stays provider-neutral.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tayori.mail.message import Message


@runtime_checkable
class Transport(Protocol):
    def send(self, message: Message) -> str:
        """Deliver ``message``; return the provider's message id."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RawTransport(Protocol):
    """A transport that also sends a message already in its wire form (RFC 5322 bytes).

    The Django email backend uses it: Django builds the MIME message, tayori carries its
    bytes and the envelope unchanged, so what arrives is what Django's SMTP backend sends.
    """

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        """Deliver ``data`` to ``recipients`` with envelope sender ``sender``; return an id."""
        ...
