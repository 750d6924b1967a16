"""In-memory transport for tests: keeps every message it was asked to send."""

from __future__ import annotations

import threading
import uuid

from tayori.mail.message import Message


class MemoryTransport:
    def __init__(self) -> None:
        self.outbox: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> str:
        with self._lock:
            self.outbox.append(message)
        return f"memory-{uuid.uuid4()}"

    def close(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self.outbox.clear()
