"""A simulated email provider: latency, transient errors, throttling, a delivery log.

It behaves like SES's "max send rate": a token bucket checked when a request arrives;
over the rate the request is refused with a throttling error (``RetryLater``) and
counted. Give ``directory`` to share the bucket and the log across processes (the
rate-limit test runs four); without it the state lives in this process. Used by
``tayori demo``, the benchmarks and the tests, in place of a real provider.
(It lived in ``tayori.mail.provider`` before ``tayori.testing`` existed.)
"""

from __future__ import annotations

import email.policy
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

from tayori.backends.sqlite.db import Database
from tayori.errors import RetryLater
from tayori.mail.message import Message, address_of
from tayori.mail.ratelimit import MemoryRateLimiter, SqliteRateLimiter

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    recipient: str
    subject: str
    at: float


class SimulatedProvider:
    """A ``Transport`` that pretends to be a provider with a rate limit."""

    def __init__(
        self,
        *,
        rate: float | None = None,
        burst: float | None = None,
        latency: float = 0.0,
        jitter: float = 0.0,
        error_rate: float = 0.0,
        directory: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        record_subjects: bool = True,
    ) -> None:
        self.rate, self.latency, self.jitter, self.error_rate = rate, latency, jitter, error_rate
        self.record_subjects = record_subjects
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        burst = burst if burst is not None else max(1.0, rate or 1.0)
        self._db: Database | None = None
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            self._db = Database(str(Path(directory) / "provider.db"), SCHEMA)
        self._bucket: MemoryRateLimiter | SqliteRateLimiter | None = None
        if rate is not None:
            self._bucket = (
                SqliteRateLimiter(directory, rate, burst, name="provider")
                if directory is not None
                else MemoryRateLimiter(rate, burst, name="provider")
            )
        self._log: list[Delivery] = []
        self._counts: Counter[str] = Counter()

    # ------------------------------------------------------------------ transport

    def send(self, message: Message) -> str:
        return self._accept(message.recipients, message.subject)

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        """The raw path (Django's messages): the subject is read from the headers."""
        subject = ""
        if self.record_subjects:
            headers = BytesHeaderParser(policy=email.policy.default).parsebytes(data)
            subject = str(headers.get("Subject", ""))
        return self._accept(recipients, subject)

    def _accept(self, recipients: Sequence[str], subject: str) -> str:
        if self._bucket is not None and not self._bucket.try_acquire():
            self._count("throttled")
            raise RetryLater(1.0, "simulated provider: Throttling - Maximum sending rate exceeded")
        with self._lock:
            fail = self.error_rate > 0 and self._random.random() < self.error_rate
            pause = self.latency + (self._random.uniform(0, self.jitter) if self.jitter else 0)
        if pause > 0:
            time.sleep(pause)
        if fail:
            self._count("errors")
            raise RetryLater(1.0, "simulated provider: transient error (503)")
        now = time.time()
        subject = subject if self.record_subjects else ""
        rows = [Delivery(address_of(r), subject, now) for r in recipients]
        if self._db is not None:
            with self._db.write() as conn:
                conn.executemany(
                    "INSERT INTO deliveries (recipient, subject, at) VALUES (?, ?, ?)",
                    [(d.recipient, d.subject, d.at) for d in rows],
                )
                _bump(conn, "accepted", 1)
        else:
            with self._lock:
                self._log.extend(rows)
                self._counts["accepted"] += 1
        return f"sim-{uuid.uuid4()}"

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ inspection

    def _count(self, name: str) -> None:
        if self._db is not None:
            with self._db.write() as conn:
                _bump(conn, name, 1)
        else:
            with self._lock:
                self._counts[name] += 1

    def counter(self, name: str) -> int:
        """``accepted``, ``throttled`` or ``errors`` so far."""
        if self._db is not None:
            row = (
                self._db.read()
                .execute("SELECT value FROM counters WHERE name = ?", (name,))
                .fetchone()
            )
            return int(row[0]) if row else 0
        with self._lock:
            return self._counts[name]

    @property
    def throttled(self) -> int:
        return self.counter("throttled")

    def deliveries(self) -> list[Delivery]:
        if self._db is not None:
            rows = (
                self._db.read()
                .execute("SELECT recipient, subject, at FROM deliveries ORDER BY seq")
                .fetchall()
            )
            return [Delivery(*r) for r in rows]
        with self._lock:
            return list(self._log)

    def per_recipient(self) -> Counter[str]:
        """How many times each address received mail (exactly-once checks)."""
        if self._db is not None:
            rows = (
                self._db.read()
                .execute("SELECT recipient, COUNT(*) FROM deliveries GROUP BY recipient")
                .fetchall()
            )
            return Counter(dict(rows))
        return Counter(d.recipient for d in self.deliveries())


def _bump(conn: object, name: str, by: int) -> None:
    conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO counters (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        (name, by),
    )
