"""Option B on moto: an unchanged Celery 5 app (kombu's SQS transport) produces; tayori's
local runtime on the AWS backend consumes with CeleryWorker."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import pytest
from celery import Celery
from tests.migration.conftest import load_project
from tests.migration.project.effects import effects

from tayori.contrib.celery import CeleryWorker
from tayori.runtime.local import RuntimeConfig
from tayori.wire.reasons import reason_of


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_url: str, effects_file: Path):
    port = urlparse(moto_url).port
    queue = f"celery-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PROJ_BROKER_URL", f"sqs://testing:testing@127.0.0.1:{port}")
    monkeypatch.setenv("PROJ_QUEUE", queue)
    monkeypatch.setenv("TAYORI_URL", "aws://?region=us-east-1")
    monkeypatch.setenv("TAYORI_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("TAYORI_VISIBILITY_TIMEOUT", "2")
    tasks = load_project(tmp_path, "b")  # unchanged: `from .celery import app`
    worker = CeleryWorker(tasks.app)
    worker.backend.create_resources()  # bucket + idempotency table (`tayori setup`)
    worker.ensure_queues()  # the queue with its DLQ, before Celery first sends
    yield tasks, worker, queue
    worker.backend.close()


def drain(worker: CeleryWorker, timeout: float = 90) -> None:
    runtime = worker.runtime(RuntimeConfig(concurrency=2, poll_wait_seconds=1))
    assert runtime.run_until_idle(timeout).idle


def dead_letters(worker: CeleryWorker, queue: str) -> list[tuple[str | None, str | None]]:
    dlq = worker.app.queue(f"{queue}-dlq")
    out = []
    while batch := dlq.receive(10, wait_seconds=0):
        out += [reason_of(m.attributes) for m in batch]
    return out


def test_unchanged_celery_app_runs_exactly_once(project, effects_file: Path) -> None:
    tasks, worker, queue = project
    tasks.add.delay(1, 2)
    tasks.add.apply_async((3,), {"y": 4, "scale": 10})
    first = tasks.charge.delay(7, Decimal("9.99"), when=datetime(2026, 1, 2, tzinfo=UTC))
    tasks.charge.apply_async((7, Decimal("9.99")), task_id=first.id)  # same Celery task id
    tasks.remind.apply_async((5, datetime.now(UTC)), countdown=2)
    tasks.add.apply_async((100, 100), expires=datetime.now(UTC) - timedelta(seconds=5))
    drain(worker)
    done = effects(str(effects_file))
    assert sorted(e["result"] for e in done if e["kind"] == "add") == [3, 70]
    assert [e["types"] for e in done if e["kind"] == "charge"] == [["Decimal", "datetime"]]
    (remind,) = [e for e in done if e["kind"] == "remind"]
    assert remind["at_type"] == "datetime" and remind["eta"] and remind["queue"] == queue
    snapshot = worker.handler.counters.snapshot()
    assert snapshot["duplicates_skipped"] == 1 and worker.handler.schedule.expired == 1
    assert dead_letters(worker, queue) == []


def test_self_retry_and_exhausted_autoretry(project, effects_file: Path) -> None:
    tasks, worker, queue = project
    sent = tasks.flaky.delay("k1", fail_times=2)
    tasks.always_times_out.delay("t1")
    drain(worker)
    done = effects(str(effects_file))
    assert [e for e in done if e["kind"] == "flaky"] == [
        {"kind": "flaky", "key": "k1", "retries": 2, "id": sent.id}
    ]
    assert len([e for e in done if e["kind"] == "attempt"]) == 3
    assert dead_letters(worker, queue) == [
        ("gave up after 2 retries: TimeoutError: t1: provider timed out", "RetriesExhausted")
    ]


def test_unknown_task_pickle_and_protocol_1_are_dead_lettered_never_run(
    project, effects_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks, worker, queue = project
    add_name = tasks.add.name
    tasks.app.send_task("proj.no_such_task", args=[1])
    other = Celery("other", broker=tasks.app.conf.broker_url)
    other.conf.update(
        broker_transport_options=tasks.app.conf.broker_transport_options,
        accept_content=["json", "pickle"],
    )
    other.send_task(add_name, args=[1, 2], queue=queue, serializer="pickle")
    old = Celery("old", broker=tasks.app.conf.broker_url)
    old.conf.update(
        broker_transport_options=tasks.app.conf.broker_transport_options, task_protocol=1
    )
    old.send_task(add_name, args=[5, 5], queue=queue, serializer="json")
    drain(worker)
    assert effects(str(effects_file)) == []
    reasons = sorted(dead_letters(worker, queue), key=lambda r: r[1] or "")
    assert [kind for _, kind in reasons] == [
        "UnknownTask",
        "UnsupportedFormat",
        "UnsupportedFormat",
    ]
    text = " | ".join(r for r, _ in reasons if r)
    assert "unknown task 'proj.no_such_task'" in text
    assert "pickle serializer is not read by tayori" in text
    assert "task protocol 1 is not read by tayori" in text


def test_retry_copy_stays_a_celery_message(project) -> None:
    """What tayori writes back (a retry) is still Celery protocol 2, base64 as kombu writes it."""
    tasks, worker, queue = project
    from tayori.wire.celery import CeleryCodec
    from tayori.wire.envelope import Envelope

    codec = CeleryCodec()
    tasks.add.delay(1, 2)
    q = worker.app.queue(queue)
    (msg,) = q.receive(1, wait_seconds=2)
    incoming = codec.decode(msg.body, msg.attributes)
    again = codec.encode(Envelope(**{**_fields(incoming.envelope), "retries": 1}))
    message = json.loads(base64.b64decode(again.body))
    assert message["headers"]["retries"] == 1 and message["headers"]["task"] == tasks.add.name
    assert json.loads(base64.b64decode(message["body"]))[:2] == [[1, 2], {}]
    assert codec.decode(again.body, {}).envelope.key == incoming.envelope.key


def _fields(envelope) -> dict:
    return {name: getattr(envelope, name) for name in envelope.__dataclass_fields__}
