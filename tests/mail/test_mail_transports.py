"""File and memory transports, and the rate-limited wrapper."""

from __future__ import annotations

import email
import time

import pytest

from tayori.errors import RetryLater
from tayori.mail import FileTransport, MemoryRateLimiter, Message, RateLimitedTransport
from tayori.testing import MemoryTransport, SimulatedProvider


def msg(to: str = "a@example.org") -> Message:
    return Message(sender="news@example.com", to=(to,), subject="Hi", text="body")


def test_file_transport_writes_one_eml_per_message(tmp_path) -> None:
    t = FileTransport(tmp_path / "out")
    t.send(msg("a@example.org"))
    t.send(msg("b@example.org"))
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 2
    parsed = email.message_from_bytes(files[0].read_bytes())
    assert parsed["Subject"] == "Hi"
    assert not list((tmp_path / "out").glob(".*"))


def test_memory_transport_keeps_messages() -> None:
    t = MemoryTransport()
    t.send(msg())
    assert [m.to for m in t.outbox] == [("a@example.org",)]


def test_rate_limited_transport_paces_sends() -> None:
    t = RateLimitedTransport(MemoryTransport(), MemoryRateLimiter(rate=50, burst=1))
    start = time.monotonic()
    for _ in range(26):
        t.send(msg())
    assert time.monotonic() - start >= 0.45  # 25 intervals of 20 ms


def test_rate_limited_transport_refuses_long_waits() -> None:
    limiter = MemoryRateLimiter(rate=1, burst=1)
    t = RateLimitedTransport(MemoryTransport(), limiter, max_wait=0.1)
    t.send(msg())
    with pytest.raises(RetryLater) as info:
        t.send(msg())
    assert 0.5 < info.value.seconds <= 1.0


def test_simulated_provider_throttles_over_its_rate() -> None:
    p = SimulatedProvider(rate=5, burst=2)
    results = []
    for _ in range(4):
        try:
            p.send(msg())
            results.append("ok")
        except RetryLater:
            results.append("throttled")
    assert results == ["ok", "ok", "throttled", "throttled"]
    assert p.throttled == 2 and p.per_recipient() == {"a@example.org": 2}


def test_simulated_provider_transient_errors() -> None:
    p = SimulatedProvider(error_rate=0.5, seed=1)
    errors = 0
    for _ in range(200):
        try:
            p.send(msg())
        except RetryLater:
            errors += 1
    assert 60 < errors < 140 and p.counter("errors") == errors
