"""In-memory transport for tests: keeps every message it was asked to send.

``outbox`` holds tayori ``Message`` objects (broadcasts, ``Mailer.send``); ``sent``
holds raw sends (the Django email backend's path) with their envelope, parsed on
demand: ``transport.sent[0].message["Subject"]``.
"""

from __future__ import annotations

import email
import email.policy
import threading
import uuid
from dataclasses import dataclass
from email.message import EmailMessage

from tayori.mail.message import Message


@dataclass(frozen=True, slots=True)
class Sent:
    """One raw send: the envelope and the exact bytes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


class MemoryTransport:
    def __init__(self) -> None:
        self.outbox: list[Message] = []
        self.sent: list[Sent] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> str:
        with self._lock:
            self.outbox.append(message)
        return f"memory-{uuid.uuid4()}"

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        with self._lock:
            self.sent.append(Sent(sender, tuple(recipients), bytes(data)))
        return f"memory-{uuid.uuid4()}"

    def close(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self.outbox.clear()
            self.sent.clear()
