"""The embedded backend: one directory, no services.

``<dir>/queues.db`` holds every queue, ``<dir>/idempotency.db`` the idempotency
records, ``<dir>/blobs/<bucket>/`` the claim-check blobs.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tayori.backends.base import QueueSpec, check_queue_name
from tayori.backends.sqlite.blobs import FileBlobStore
from tayori.backends.sqlite.db import Database
from tayori.backends.sqlite.idempotency import SCHEMA as IDEMPOTENCY_SCHEMA
from tayori.backends.sqlite.idempotency import SqlitePersistenceLayer
from tayori.backends.sqlite.queue import SCHEMA as QUEUE_SCHEMA
from tayori.backends.sqlite.queue import SqliteQueue, upgrade
from tayori.errors import ConfigError, QueueDoesNotExist

if TYPE_CHECKING:
    from tayori.backends.sqlite.mail import SqliteMailStore
    from tayori.backends.sqlite.ratelimit import SqliteRateLimiter

__all__ = ["FileBlobStore", "SqliteBackend", "SqlitePersistenceLayer", "SqliteQueue"]


class SqliteBackend:
    def __init__(
        self, directory: str | os.PathLike[str], *, bucket: str = "tayori", region: str = "local"
    ) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {self.directory}: {exc.strerror or exc}") from None
        if not os.access(self.directory, os.W_OK):
            raise ConfigError(f"{self.directory} is not writable")
        self.region = region
        self.default_bucket = bucket
        self._queues = Database(str(self.directory / "queues.db"), QUEUE_SCHEMA)
        upgrade(self._queues)
        self._idempotency: Database | None = None
        self._idempotency_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqliteBackend({str(self.directory)!r})"

    def check_resources(self, tables: object = (), queues: object = ()) -> None:
        """Nothing to check: the directory exists and is writable (checked above), the
        databases are created on first use."""

    # -------------------------------------------------------------- queues

    def create_queue(self, name: str, spec: QueueSpec | None = None) -> SqliteQueue:
        """Create or update (like SQS CreateQueue + SetQueueAttributes)."""
        check_queue_name(name)
        spec = spec or QueueSpec()
        with self._queues.write() as conn:
            if spec.redrive is not None:
                exists = conn.execute(
                    "SELECT 1 FROM queues WHERE name = ?", (spec.redrive.dead_letter_queue,)
                ).fetchone()
                if not exists:
                    raise QueueDoesNotExist(
                        f"dead-letter queue {spec.redrive.dead_letter_queue!r} does not exist"
                    )
            conn.execute(
                "INSERT INTO queues (name, visibility_timeout, retention_seconds, "
                "max_message_size, dlq, max_receive_count, created_at, delay_seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "visibility_timeout = excluded.visibility_timeout, "
                "retention_seconds = excluded.retention_seconds, "
                "max_message_size = excluded.max_message_size, dlq = excluded.dlq, "
                "max_receive_count = excluded.max_receive_count, "
                "delay_seconds = excluded.delay_seconds",
                (
                    name,
                    spec.visibility_timeout,
                    spec.retention_seconds,
                    spec.max_message_size,
                    spec.redrive.dead_letter_queue if spec.redrive else None,
                    spec.redrive.max_receive_count if spec.redrive else None,
                    time.time(),
                    spec.delay_seconds,
                ),
            )
        return SqliteQueue(self._queues, name, self.region)

    def get_queue(self, name: str) -> SqliteQueue:
        check_queue_name(name)
        queue = SqliteQueue(self._queues, name, self.region)
        queue.spec()  # raises QueueDoesNotExist
        return queue

    def list_queues(self) -> list[str]:
        rows = self._queues.query("SELECT name FROM queues ORDER BY name")
        return [r[0] for r in rows]

    def delete_queue(self, name: str) -> None:
        check_queue_name(name)
        with self._queues.write() as conn:
            conn.execute("DELETE FROM messages WHERE queue = ?", (name,))
            conn.execute("DELETE FROM queues WHERE name = ?", (name,))

    # -------------------------------------------------------------- blobs, idempotency

    def blob_store(self, bucket: str | None = None) -> FileBlobStore:
        return FileBlobStore(self.directory / "blobs", bucket or self.default_bucket)

    def persistence_layer(self) -> SqlitePersistenceLayer:
        with self._idempotency_lock:  # one Database (and one write lock) per backend
            if self._idempotency is None:
                self._idempotency = Database(
                    str(self.directory / "idempotency.db"), IDEMPOTENCY_SCHEMA
                )
        return SqlitePersistenceLayer(self._idempotency)

    # -------------------------------------------------------------- mail store, rate limit

    def mail_store(self) -> SqliteMailStore:
        """Outcomes and suppression in ``<dir>/mail.db``."""
        from tayori.backends.sqlite.mail import SqliteMailStore

        return SqliteMailStore(self.directory)

    def rate_limiter(
        self, rate: float, burst: float = 1.0, name: str = "provider"
    ) -> SqliteRateLimiter:
        """A token bucket shared by every thread and process on this machine."""
        from tayori.backends.sqlite.ratelimit import SqliteRateLimiter

        return SqliteRateLimiter(self.directory, rate, burst, name)

    def close(self) -> None:
        self._queues.close()
        if self._idempotency is not None:
            self._idempotency.close()
