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

