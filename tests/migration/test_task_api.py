"""Pieces of Celery's task API: time_limit, shared_task + autodiscovery, wire versions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

import tayori
from tayori.errors import ConfigError, TimeLimitExceeded
from tayori.runtime.local import RuntimeConfig
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import reason_of

HERE = Path(__file__).parent


@pytest.fixture
def app(tmp_path: Path) -> tayori.App:
    settings = tayori.Settings(
        url=f"sqlite:///{tmp_path}/s", visibility_timeout=1, max_receive_count=2
    )
    return tayori.App("api", settings=settings)


def drain(app: tayori.App) -> None:
    assert app.runtime(RuntimeConfig(poll_wait_seconds=0)).run_until_idle(60).idle


def test_time_limit_fails_the_record_and_interrupts_the_task(app: tayori.App) -> None:
    finished: list[int] = []

    @app.task(time_limit=0.3)
    def slow(n):
        for _ in range(100):  # pure Python: the interrupt lands at the next bytecode
            time.sleep(0.05)
        finished.append(n)

    @app.task(time_limit=5)
    def quick(n):
        finished.append(n)

    with pytest.raises(TimeLimitExceeded):
        slow.run(Envelope.call("slow", (1,), {}))
    slow.delay(1)
    quick.delay(2)
    drain(app)
    time.sleep(0.2)
    assert finished == [2]
    (dead,) = app.queue("default-dlq").receive(1)
    reason, kind = reason_of(dead.attributes)
    assert kind == "TimeLimitExceeded" and "time_limit of 0.3s" in (reason or "")


def test_shared_tasks_bind_on_autodiscovery(app: tayori.App, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(HERE / "sharedpkg"))
    sys.modules.pop("shop.tasks", None)
    app.autodiscover_tasks(["shop"])  # lazy: nothing imported yet
    assert "shop.tasks" not in sys.modules
    assert app.queue_names == ["default"]  # first use imports shop.tasks
    from shop import tasks as shop_tasks

    assert sorted(app.tasks) == ["shop.tasks.audit", "shop.tasks.ship"]
    shop_tasks.ship.delay(7, express=True)
    shop_tasks.audit.delay("x")
    drain(app)
    assert sorted(map(str, shop_tasks.RAN)) == sorted(
        map(str, [(7, True), ("audit", "x", 0), ("audit", "x", 1)])
    )


def test_unbound_shared_task_says_what_to_do() -> None:
    @tayori.shared_task
    def lonely(x):
        return x * 2

    assert lonely(2) == 4  # runs here, like calling the function
    with pytest.raises(ConfigError, match="autodiscover_tasks"):
        lonely.delay(2)


def test_one_payload_sends_stay_v1_and_calls_are_v2(app: tayori.App) -> None:
    @app.task
    def notify(payload):
        return payload

    notify.send({"order_id": 1})
    notify.delay({"order_id": 2})
    bodies = [json.loads(m.body) for m in app.queue("default").receive(10)]
    v1 = next(b for b in bodies if b["v"] == 1)
    v2 = next(b for b in bodies if b["v"] == 2)
    assert set(v1) == {"v", "task", "key", "payload", "sent_at"}  # DESIGN.md's envelope
    assert v2["args"] == [{"order_id": 2}] and "payload" not in v2


def test_idempotency_key_over_arguments_by_name(app: tayori.App) -> None:
    ran: list = []

    @app.task(idempotency_key="user_id")
    def welcome(user_id, template="welcome"):
        ran.append((user_id, template))

    welcome.delay(42)
    welcome.delay(user_id=42, template="vip")  # same business key: runs once
    welcome.delay(43)
    drain(app)
    assert sorted(u for u, _ in ran) == [42, 43]


def test_task_id_headers_and_queue_reach_the_task(app: tayori.App) -> None:
    seen: list = []

    @app.task(bind=True, queue="mail")
    def probe(self, n):
        seen.append((n, self.request.id, self.request.headers, self.request.retries))

    sent = probe.apply_async((1,), task_id="order-7", headers={"tenant": "acme"}, queue="urgent")
    assert sent.id == "order-7" and app.queue("urgent").stats().visible == 1
    assert app.queue("mail").stats().total == 0
    runtime = app.runtime(RuntimeConfig(poll_wait_seconds=0, queues=("urgent",)))
    assert runtime.run_until_idle(30).idle
    assert seen == [(1, "order-7", {"tenant": "acme"}, 0)]


def test_retries_are_not_bounded_by_max_receive_count(app: tayori.App) -> None:
    """maxReceiveCount is 2 here; a task with max_retries=4 still runs 5 times (each retry
    is a new message), then dead-letters with the count that is in the message."""
    attempts: list[int] = []

    @app.task(bind=True, autoretry_for=(ConnectionError,), max_retries=4, default_retry_delay=0)
    def stubborn(self):
        attempts.append(self.request.retries)
        raise ConnectionError("still down")

    stubborn.delay()
    drain(app)
    assert attempts == [0, 1, 2, 3, 4]
    (dead,) = app.queue("default-dlq").receive(1)
    assert reason_of(dead.attributes)[0] == "gave up after 4 retries: ConnectionError: still down"
    assert Envelope.parse(dead.body).retries == 4


def test_a_received_call_that_does_not_fit_is_dead_lettered_at_once(app: tayori.App) -> None:
    ran: list = []

    @app.task
    def pair(a, b):
        ran.append((a, b))

    body = Envelope.call("pair", (1, 2, 3), {}).to_json()  # another producer's mistake
    app.queue("default").send(body)
    drain(app)
    assert ran == []
    (dead,) = app.queue("default-dlq").receive(1)
    reason, kind = reason_of(dead.attributes)
    assert kind == "MalformedMessage" and "arguments do not fit the task" in (reason or "")
