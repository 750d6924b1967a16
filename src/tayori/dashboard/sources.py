"""What the dashboard reads: queues paired with their DLQs, and the mail store.

One object per dashboard process. Queue handles are looked up once and kept (on AWS
every ``get_queue`` is a GetQueueUrl call); the pairing is refreshed when a queue
appears, so a queue created while the dashboard runs shows up on the next sample.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tayori.backends.base import Queue, QueueStats
from tayori.errors import ConfigError, QueueDoesNotExist


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One source queue's depth and its DLQ's depth, at one moment."""

    name: str
    visible: int
    in_flight: int
    delayed: int
    dlq: str | None
    dlq_depth: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.name,
            "visible": self.visible,
            "in_flight": self.in_flight,
            "delayed": self.delayed,
            "dlq": self.dlq,
            "dlq_depth": self.dlq_depth,
        }


class Sources:
    """The backend (and mail store, when there is one) behind one dashboard."""

    def __init__(self, backend: Any, settings: Any, mail_store: Any = None) -> None:
        self.backend, self.settings = backend, settings
        self._mail_store = mail_store
        self._queues: dict[str, Queue] = {}
        self._pairs: dict[str, str | None] = {}  # source queue -> its DLQ name
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ queues

    def queue(self, name: str) -> Queue:
        found = self._queues.get(name)
        if found is None:
            found = self.backend.get_queue(name)
            self._queues[name] = found
        return found

    def refresh(self) -> dict[str, str | None]:
        """Source queues and their DLQ names (DLQs themselves are not listed as sources)."""
        with self._lock:
            names = self.backend.list_queues()
            if set(names) != set(self._queues):
                for gone in set(self._queues) - set(names):
                    self._queues.pop(gone, None)
                specs = {n: self.queue(n).spec() for n in names}
                dlqs = {s.redrive.dead_letter_queue for s in specs.values() if s.redrive}
                self._pairs = {
                    n: (s.redrive.dead_letter_queue if s.redrive else None)
                    for n, s in sorted(specs.items())
                    if n not in dlqs
                }
            return dict(self._pairs)

    def rows(self) -> list[QueueRow]:
        rows = []
        for name, dlq in self.refresh().items():
            stats = self._stats(name)
            depth = self._stats(dlq).total if dlq else 0
            rows.append(QueueRow(name, stats.visible, stats.in_flight, stats.delayed, dlq, depth))
        return rows

    def _stats(self, name: str) -> QueueStats:
        try:
            return self.queue(name).stats()
        except QueueDoesNotExist:
            self._queues.pop(name, None)
            return QueueStats(0, 0, 0)

    def pair(self, name: str) -> tuple[Queue, Queue]:
        """(source, dlq) for a source queue the dashboard lists; anything else is refused."""
        pairs = self.refresh()
        dlq = pairs.get(name)
        if name not in pairs:
            raise QueueDoesNotExist(f"no source queue named {name!r}")
        if dlq is None:
            raise ConfigError(f"queue {name!r} has no dead-letter queue")
        return self.queue(name), self.queue(dlq)

    # ------------------------------------------------------------------ mail

    def mail_store(self) -> Any:
        """The mail store, or None while there is none (no broadcast was ever started)."""
        if self._mail_store is not None:
            return self._mail_store
        with self._lock:
            if self._mail_store is None:
                self._mail_store = _open_mail_store(self.backend, self.settings)
            return self._mail_store

    def broadcasts(self, limit: int = 20) -> list[Any]:
        store = self.mail_store()
        return [] if store is None else store.broadcasts(limit)

    def close(self) -> None:
        store = self._mail_store
        if store is not None and hasattr(store, "close"):
            store.close()


def _open_mail_store(backend: Any, settings: Any) -> Any:
    """Embedded: ``<dir>/mail.db`` once it exists (never created by looking). AWS: the
    DynamoDB table beside the idempotency table, once it exists."""
    directory = getattr(backend, "directory", None)
    if directory is not None:
        if not (directory / "mail.db").exists():
            return None
        from tayori.backends.sqlite.mail import SqliteMailStore

        return SqliteMailStore(directory)
    client = getattr(backend, "client", None)
    if client is None:
        return None
    from tayori.backends.aws.mail import DynamoDBMailStore, mail_table_name

    dynamodb = client("dynamodb")
    table = mail_table_name(settings.idempotency_table)
    try:
        dynamodb.describe_table(TableName=table)
    except dynamodb.exceptions.ResourceNotFoundException:
        return None
    return DynamoDBMailStore(dynamodb, table)
