"""The provider's send rate around a transport. The limiters themselves are the
backend's (``backend.rate_limiter(rate)``; ``tayori.backends.ratelimit``)."""

from __future__ import annotations

from typing import Any

from tayori.backends.aws.ratelimit import DynamoDBRateLimiter
from tayori.backends.ratelimit import Decision, MemoryRateLimiter, RateLimiter, decide
from tayori.backends.sqlite.ratelimit import SqliteRateLimiter
from tayori.errors import ConfigError

__all__ = [
    "Decision",
    "DynamoDBRateLimiter",
    "MemoryRateLimiter",
    "RateLimitedTransport",
    "RateLimiter",
    "SqliteRateLimiter",
    "decide",
]


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
