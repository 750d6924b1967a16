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

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tayori.errors import ConfigError, RetryLater


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
