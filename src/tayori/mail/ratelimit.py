"""A global token bucket for the provider's send rate, shared by every execution.

The bucket is a reservation scheme (GCRA): one atomic read-modify-write takes a token
even when none is left, driving the count negative, and tells the caller how long to
sleep until its slot. So each send costs exactly one write, waiters never stampede,
and under load the grants are spaced exactly ``1/rate`` apart (the full rate is used,
never more). A caller whose slot is further away than ``max_wait`` takes nothing and
gets ``RetryLater``, so a Lambda execution never sleeps through its timeout.

Embedded: the state is one row in ``ratelimit.db`` (SQLite, ``BEGIN IMMEDIATE``), shared
by threads and processes on the machine. AWS: ``DynamoDBRateLimiter`` keeps the same
state in one DynamoDB item updated with a conditional write on a version number; see
docs/mail.md for its limits (one item takes ~1,000 writes/s; shard beyond that).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tayori.backends.sqlite.db import Database
from tayori.errors import ConfigError, RetryLater

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL,
    granted INTEGER NOT NULL DEFAULT 1
)
"""

# The reservation as ONE statement (``decide`` in SQL): an autocommit upsert that the
# store group-commits with the other threads' reservations, instead of a BEGIN IMMEDIATE
# read-modify-write holding the file's write lock across four calls. ``granted`` is the
# decision, kept on the row so that RETURNING can report it. The insert branch (no row
# yet) is decided in Python: ?6 / ?7 are its tokens and decision. ``updated`` never moves
# back: statements of one group commit run in queue order, not in the order their
# callers read the clock, and time counted twice would be tokens handed out twice.
_LEVEL = "MIN(?2, buckets.tokens + MAX(0.0, ?3 - buckets.updated) * ?4)"
_GRANTED = f"(?5 IS NULL OR MAX(0.0, -({_LEVEL} - ?1) / ?4) <= ?5)"
_RESERVE = f"""
INSERT INTO buckets (name, tokens, updated, granted) VALUES (?8, ?6, ?3, ?7)
ON CONFLICT (name) DO UPDATE SET
    tokens = CASE WHEN {_GRANTED} THEN {_LEVEL} - ?1 ELSE {_LEVEL} END,
    granted = {_GRANTED},
    updated = MAX(buckets.updated, ?3)
RETURNING tokens, granted, updated
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of one reservation: ``granted`` and the seconds to wait before sending."""

    granted: bool
    wait: float
    tokens_left: float


def decide(
    tokens: float,
    updated: float,
    now: float,
    rate: float,
    burst: float,
    n: float,
    max_wait: float | None,
) -> tuple[Decision, float]:
    """Pure bucket arithmetic; returns the decision and the new token count."""
    level = min(burst, tokens + max(0.0, now - updated) * rate)
    after = level - n
    wait = max(0.0, -after / rate)
    if max_wait is not None and wait > max_wait:
        return Decision(False, wait, level), level
    return Decision(True, wait, after), after


class RateLimiter(Protocol):
    rate: float

    def acquire(self, n: float = 1.0, max_wait: float | None = None) -> float:
        """Wait for ``n`` tokens; return seconds waited. ``RetryLater`` past max_wait."""
        ...

    def try_acquire(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens only if they are there now (never waits, never goes negative)."""
        ...


class _Base:
    rate: float
    burst: float
    name: str
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def _check(self) -> None:
        if not self.rate > 0:
            raise ConfigError(f"rate limit must be positive, got {self.rate!r}")
        if self.burst < 1:
            raise ConfigError(f"burst must be at least 1 token, got {self.burst!r}")

    def _reserve(self, n: float, max_wait: float | None) -> Decision:
        raise NotImplementedError

    def acquire(self, n: float = 1.0, max_wait: float | None = None) -> float:
        decision = self._reserve(n, max_wait)
        if not decision.granted:
            raise RetryLater(
                decision.wait,
                f"rate limit {self.name} ({self.rate:g}/s) busy; next slot in {decision.wait:.1f}s",
            )
        if decision.wait > 0:
            self.sleep(decision.wait)
        return decision.wait

    def try_acquire(self, n: float = 1.0) -> bool:
        return self._reserve(n, 0.0).granted


class MemoryRateLimiter(_Base):
    """Threads of one process only (tests, the demo's single process)."""

    def __init__(self, rate: float, burst: float = 1.0, name: str = "default") -> None:
        self.rate, self.burst, self.name = float(rate), float(burst), name
        self._check()
        self._tokens = self.burst
        self._updated = time.time()
        self._lock = threading.Lock()

    def _reserve(self, n: float, max_wait: float | None) -> Decision:
        with self._lock:
            now = time.time()
            decision, tokens = decide(
                self._tokens, self._updated, now, self.rate, self.burst, n, max_wait
            )
            self._tokens, self._updated = tokens, now
            return decision


class SqliteRateLimiter(_Base):
    """Threads and processes of one machine; the bucket is a row in ``<dir>/ratelimit.db``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        rate: float,
        burst: float = 1.0,
        name: str = "default",
    ) -> None:
        self.rate, self.burst, self.name = float(rate), float(burst), name
        self._check()
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._db = Database(str(Path(directory) / "ratelimit.db"), SCHEMA)
        with self._db.write() as conn:  # a bucket made by an older tayori lacks `granted`
            columns = {row[1] for row in conn.execute("PRAGMA table_info(buckets)")}
            if "granted" not in columns:
                conn.execute("ALTER TABLE buckets ADD COLUMN granted INTEGER NOT NULL DEFAULT 1")

    def _reserve(self, n: float, max_wait: float | None) -> Decision:
        now = time.time()
        first, first_tokens = decide(self.burst, now, now, self.rate, self.burst, n, max_wait)
        rows = self._db.execute_returning(
            _RESERVE,
            (n, self.burst, now, self.rate, max_wait, first_tokens, first.granted, self.name),
        )
        tokens, granted, updated = rows[0]
        # The slot counts from the row's clock (``updated``, which a later reading by
        # another caller may have moved past ours), and the wait from now, after the
        # commit: sleeping the raw wait from a stale clock would send too early or late.
        if granted:  # tokens is what is left after taking n: negative means wait
            slot = updated + max(0.0, -tokens / self.rate)
            return Decision(True, max(0.0, slot - time.time()), tokens)
        return Decision(False, max(0.0, -(tokens - n) / self.rate), tokens)

    def close(self) -> None:
        self._db.close()


class DynamoDBRateLimiter(_Base):
    """The same bucket in one DynamoDB item, for Lambda executions across the fleet.

    Item: ``{pk: "ratelimit#<name>", tokens, updated, version}``. A reservation reads the
    item (strongly consistent), computes with ``decide`` and writes it back with
    ``ConditionExpression: attribute_not_exists(pk) OR version = :v``; a lost race retries
    with jitter. Clocks are the executions' wall clocks (NTP-synced on Lambda).
    """

    def __init__(
        self, client: Any, table: str, rate: float, burst: float = 1.0, name: str = "default"
    ) -> None:
        self.rate, self.burst, self.name = float(rate), float(burst), name
        self._check()
        self.client, self.table = client, table
        self._key = {"pk": {"S": f"ratelimit#{name}"}}

    def _reserve(self, n: float, max_wait: float | None) -> Decision:
        for attempt in range(50):
            item = self.client.get_item(
                TableName=self.table, Key=self._key, ConsistentRead=True
            ).get("Item")
            now = time.time()
            if item:
                tokens, updated = float(item["tokens"]["N"]), float(item["updated"]["N"])
                version = int(item["version"]["N"])
            else:
                tokens, updated, version = self.burst, now, 0
            decision, new = decide(tokens, updated, now, self.rate, self.burst, n, max_wait)
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        **self._key,
                        "tokens": {"N": repr(new)},
                        "updated": {"N": repr(now)},
                        "version": {"N": str(version + 1)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR version = :v",
                    ExpressionAttributeValues={":v": {"N": str(version)}},
                )
                return decision
            except self.client.exceptions.ConditionalCheckFailedException:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RetryLater(1.0, f"rate limit {self.name}: too much contention on the bucket item")


class RateLimitedTransport:
    """Wraps a transport: every send first takes a token (waiting at most ``max_wait``)."""

    def __init__(self, transport: Any, limiter: RateLimiter, max_wait: float = 10.0) -> None:
        self.transport, self.limiter, self.max_wait = transport, limiter, max_wait

    def send(self, message: Any) -> str:
        self.limiter.acquire(1.0, max_wait=self.max_wait)
        return self.transport.send(message)

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        if not hasattr(self.transport, "send_raw"):
            raise ConfigError(f"{type(self.transport).__name__} cannot send raw messages")
        self.limiter.acquire(1.0, max_wait=self.max_wait)
        return self.transport.send_raw(sender, recipients, data)

    def close(self) -> None:
        self.transport.close()
