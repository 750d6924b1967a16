"""Records of one invocation side by side (issue 14, target 6): partial batch response,
idempotency, the rate limit and the function timeout stay exact."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import tayori
from tayori.errors import ConfigError, PermanentError
from tayori.runtime.local import LambdaContext

LATENCY = 0.05


def make_app(tmp_path: Path) -> tayori.App:
    return tayori.App(
        "par",
        settings=tayori.Settings(url=f"sqlite:///{tmp_path / 'store'}", visibility_timeout=60),
    )


def event_for(app: tayori.App, queue: str) -> dict:
    q = app.queue(queue)
    messages = []
    while len(messages) < 10:
        batch = q.receive(10, 0)
        if not batch:
            break
        messages.extend(batch)
    return {"Records": [m.to_lambda_record(q.arn, "local") for m in messages]}


def timed(app: tayori.App, event: dict) -> tuple[dict, float]:
    started = time.perf_counter()
    response = app.lambda_handler(event, LambdaContext("par", 30))
    return response, time.perf_counter() - started


def test_a_batch_of_ten_io_bound_records_takes_about_one_records_time(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    running = Counter[str]()
    peak = [0]
    lock = threading.Lock()

    @app.task(queue="io", idempotency_key="n", concurrency=10)
    def send(p: dict) -> None:
        with lock:
            running["now"] += 1
            peak[0] = max(peak[0], running["now"])
        time.sleep(LATENCY)
        with lock:
            running["now"] -= 1
            running[f"done-{p['n']}"] += 1

    send.send_many({"n": i} for i in range(10))
    response, took = timed(app, event_for(app, "io"))
    assert response == {"batchItemFailures": []}
    assert peak[0] == 10
    assert all(running[f"done-{i}"] == 1 for i in range(10))
    # the target is <= 1.5x one record's time; the test allows machine noise on top
    assert took < 10 * LATENCY / 2, took


def test_partial_failures_and_duplicates_stay_exact(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    ran = Counter[int]()
    lock = threading.Lock()

    @app.task(queue="mix", idempotency_key="n", concurrency=5)
    def work(p: dict) -> None:
        with lock:
            ran[p["n"]] += 1
        time.sleep(0.01)
        if p["n"] == 3:
            raise ValueError("transient")
        if p["n"] == 4:
            raise PermanentError("bad")

    work.send_many([{"n": i} for i in range(6)] + [{"n": 0}, {"n": 1}])  # two duplicates
    event = event_for(app, "mix")
    by_n = {r["body"]: r["messageId"] for r in event["Records"]}
    response, _ = timed(app, event)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    three = next(mid for body, mid in by_n.items() if '"n":3' in body)
    assert failed == {three}
    assert ran == Counter({0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1})
    snap = app.handler.counters.snapshot()
    assert snap["duplicates_skipped"] == 2 and snap["dead_lettered"] == 1


def test_the_smallest_concurrency_in_a_batch_wins(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    running = [0, 0]
    lock = threading.Lock()

    def body(p: dict) -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    wide = app.task(name="wide", queue="both", concurrency=8)(body)
    narrow = app.task(name="narrow", queue="both", concurrency=2)(body)
    wide.send_many({"n": i} for i in range(6))
    narrow.send_many({"n": i} for i in range(4))
    response, _ = timed(app, event_for(app, "both"))
    assert response == {"batchItemFailures": []}
    assert running[1] == 2


def test_concurrency_is_checked() -> None:
    app = tayori.App("x")
    with pytest.raises(ConfigError, match="concurrency"):
        app.task(queue="q", concurrency=0)(lambda p: None)
