"""Long delays hop in steps of <= 900 s; driven with a fake clock (no hour of waiting)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.migration.conftest import option_a
from tests.migration.project.effects import effects

import tayori
from tayori.consumer.schedule import due_time, expiry_time, hop_delay
from tayori.errors import ConfigError
from tayori.wire.envelope import Envelope

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_pure_time_rules() -> None:
    assert [hop_delay(r) for r in (3600, 900, 899.2, 0.1, -5)] == [900, 900, 900, 1, 0]
    assert hop_delay(3600, hop=1) == 1
    assert due_time(T0, 3600, None) == T0 + timedelta(hours=1)
    assert due_time(T0, 10, T0 + timedelta(days=1)) == T0 + timedelta(seconds=10)  # Celery
    assert due_time(T0, None, "2026-03-02T00:00:00") == datetime(2026, 3, 2, tzinfo=UTC)
    assert expiry_time(T0, 60) == T0 + timedelta(minutes=1)
    assert expiry_time(T0, None, default=5) == T0 + timedelta(seconds=5)
    with pytest.raises(ConfigError, match="eta"):
        due_time(T0, None, "tomorrow")
    with pytest.raises(ConfigError, match="countdown"):
        due_time(T0, "10", None)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now


def deliver(app: tayori.App, queue: str, wait: float = 5.0) -> list[str]:
    """One receive -> handler -> delete, as the event source mapping does; the bodies."""
    q = app.queue(queue)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        messages = q.receive(10, wait_seconds=1)
        if messages:
            break
    else:
        return []
    event = {"Records": [m.to_lambda_record(q.arn, "local") for m in messages]}
    failed = {f["itemIdentifier"] for f in app.lambda_handler(event)["batchItemFailures"]}
    for m in messages:
        if m.message_id not in failed:
            q.delete(m.receipt_handle)
    return [m.body for m in messages]


def test_one_hour_countdown_hops_with_the_due_time_kept(
    tmp_path: Path, tayori_env: str, monkeypatch: pytest.MonkeyPatch, effects_file: Path
) -> None:
    tasks = option_a(tmp_path, tayori_env)
    app = tasks.app
    clock = FakeClock(T0)
    app.clock = clock
    app.hop_seconds = 1  # real seconds per hop in this test; 900 in production
    sends: list[int] = []
    real_send = type(app.queue("default")).send

    def spy(self, body, attributes=None, delay_seconds=0):
        sends.append(delay_seconds)
        return real_send(self, body, attributes, delay_seconds)

    monkeypatch.setattr(type(app.queue("default")), "send", spy)
    sent = tasks.remind.apply_async((42, T0), countdown=3600)
    bodies = []
    for step in range(4):  # received at +0 (early), +900, +1800, +2700 s: sent on each time
        bodies += deliver(app, "default")
        clock.now += 900
        assert effects(str(effects_file)) == [], f"ran early at hop {step}"
    bodies += deliver(app, "default")  # +3600: due
    assert len(bodies) == 5 and len(set(bodies)) == 1  # the same message, due time kept
    envelope = Envelope.parse(bodies[0])
    assert envelope.eta_at == T0 + timedelta(hours=1) and envelope.key == sent.id
    assert app.handler.schedule.hops == 4 and sends == [1, 1, 1, 1, 1]
    (done,) = effects(str(effects_file))
    assert done["user_id"] == 42 and done["eta"] == envelope.eta


def test_hops_are_sent_with_the_remaining_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production hop size: 3,600 s -> 900 + 900 + 900 + 900 (SQS's limit each time)."""
    monkeypatch.setenv("TAYORI_URL", f"sqlite:///{tmp_path}/store")
    app = tayori.App("hop")
    clock = FakeClock(T0)
    app.clock = clock

    @app.task
    def later(n):
        return n

    delays: list[int] = []
    queue_cls = type(app.queue("default"))
    real_send = queue_cls.send

    def spy(self, body, attributes=None, delay_seconds=0):
        delays.append(delay_seconds)
        return real_send(self, body, attributes, 0)  # deliver at once; the clock says when

    monkeypatch.setattr(queue_cls, "send", spy)
    later.apply_async((1,), countdown=2000)
    for advance in (900, 900, 200):
        deliver(app, "default")
        clock.now += advance
    deliver(app, "default")
    # the send (2000 s left), then received at +0 (2000 left), +900 (1100), +1800 (200)
    assert delays == [900, 900, 900, 200]
    assert app.queue("default").stats().total == 0
