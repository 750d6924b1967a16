"""What the "provider" accepted, recorded across processes, plus fault injection.

The recording transport writes one ``accepted`` row (recipient, worker pid, time)
the moment it accepts an email, into a SQLite file every worker process shares.
The harness counts deliveries, duplicates and the kill window from these rows,
never from the workers' own counters (a killed worker's counters die with it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tayori.backends.sqlite.db import Database
from tayori.errors import PermanentError, RetryLater
from tayori.mail.message import Message, address_of
from tayori.mail.transports.base import Transport

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    pid INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS accepted_by_pid ON accepted (pid)
"""
PID_HEADER = "X-Reliability-Worker"


class Recorder:
    """The shared ``accepted`` table of one scenario directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._db = Database(str(Path(directory) / "accepted.db"), SCHEMA)

    def accept(self, recipients: list[str], pid: int | None = None) -> None:
        now, who = time.time(), pid if pid is not None else os.getpid()
        with self._db.write() as conn:
            conn.executemany(
                "INSERT INTO accepted (recipient, pid, at) VALUES (?, ?, ?)",
                [(r, who, now) for r in recipients],
            )

    def per_recipient(self) -> Counter[str]:
        rows = self._db.query("SELECT recipient, COUNT(*) FROM accepted GROUP BY recipient")
        return Counter(dict(rows))

    def by_pid(self, pid: int) -> list[str]:
        rows = self._db.query("SELECT recipient FROM accepted WHERE pid = ?", (pid,))
        return [r[0] for r in rows]

    def close(self) -> None:
        self._db.close()


class RecordingTransport:
    """A provider double: optional latency, then one ``accepted`` row per recipient."""

    def __init__(self, recorder: Recorder, latency: float = 0.0) -> None:
        self.recorder, self.latency = recorder, latency

    def send(self, message: Message) -> str:
        if self.latency:
            time.sleep(self.latency)
        self.recorder.accept([address_of(r) for r in message.recipients])
        return f"rec-{uuid.uuid4()}"

    def close(self) -> None:
        pass


class PidStamp:
    """Adds the worker pid as a header, so an SMTP server can attribute what it accepted."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def send(self, message: Message) -> str:
        headers = {**message.headers, PID_HEADER: str(os.getpid())}
        return self.inner.send(dataclasses.replace(message, headers=headers))

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Provider misbehaviour per attempt; permanent failures are fixed per recipient."""

    transient: float = 0.10  # throttling, 4xx, connection resets (rotating)
    permanent: float = 0.01  # these recipients always fail with a 5xx
    spike: float = 0.0  # share of attempts that stall for ``spike_seconds`` then accept
    spike_seconds: float = 0.0
    seed: int = 7

    def is_permanent(self, address: str) -> bool:
        digest = hashlib.sha256(f"{self.seed}:{address}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.permanent


class FaultyTransport:
    """Wraps a transport with the faults of a :class:`FaultPlan`; counts what it injected."""

    def __init__(self, inner: Transport, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def send(self, message: Message) -> str:
        address = address_of(message.recipients[0])
        with self._lock:
            roll, kind, stall = (
                self._random.random(),
                self._random.randrange(3),
                self._random.random(),
            )
        if self.plan.is_permanent(address):
            self._count("permanent")
            raise PermanentError(f"simulated provider: 550 5.1.1 mailbox {address} unavailable")
        if roll < self.plan.transient:
            self._count(("throttled", "4xx", "reset")[kind])
            if kind == 0:
                raise RetryLater(1.0, "simulated provider: Throttling - Maximum sending rate")
            if kind == 1:
                raise RetryLater(1.0, "simulated provider: 451 4.3.0 try again later")
            raise ConnectionResetError(104, "simulated provider: connection reset by peer")
        if stall < self.plan.spike:
            self._count("spike")
            time.sleep(self.plan.spike_seconds)  # past the function timeout, then accept
        return self.inner.send(message)

    def _count(self, name: str) -> None:
        with self._lock:
            self.injected[name] += 1

    def close(self) -> None:
        self.inner.close()
