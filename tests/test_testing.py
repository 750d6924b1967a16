"""tayori.testing as a user's test suite uses it: memory backend, drain, eager, pending."""

from __future__ import annotations

from typing import Any

import pytest

import tayori
from tayori.errors import PermanentError, TaskFailed
from tayori.mail import Mailer, Templates
from tayori.testing import MemoryBackend, MemoryTransport, drain, eager, pending


def make_app(**settings: Any) -> tuple[tayori.App, list[Any]]:
    app = tayori.App("shop", settings=tayori.Settings(**settings), backend=MemoryBackend())
    seen: list[Any] = []

    @app.task(queue="orders")
    def record(payload: Any) -> None:
        if payload.get("boom"):
            raise ValueError(f"boom {payload['id']}")
        if payload.get("permanent"):
            raise PermanentError("cannot ever work")
        seen.append(payload["id"])

    return app, seen


def test_pending_then_drain_runs_through_the_handler() -> None:
    app, seen = make_app()
    app.tasks["record"].send({"id": 1})
    app.tasks["record"].send({"id": 2}, delay_seconds=60)
    assert [(e.task, e.payload) for e in pending(app, "orders")] == [
        ("record", {"id": 1}),
        ("record", {"id": 2}),
    ]
    result = drain(app)  # delayed messages run too, by default
    assert seen == [1, 2] and result.succeeded == 2
    assert pending(app, "orders") == []


def test_drain_raises_the_tasks_own_error() -> None:
    app, _ = make_app()
    app.tasks["record"].send({"id": 3, "boom": True})
    with pytest.raises(TaskFailed) as info:
        drain(app)
    assert isinstance(info.value.error, ValueError) and str(info.value.error) == "boom 3"
    assert info.value.task == "record"


def test_drain_without_fail_fast_collects_errors_and_dead_letters() -> None:
    app, seen = make_app()
    task = app.tasks["record"]
    task.send_many([{"id": 4}, {"id": 5, "permanent": True}, {"id": 6, "boom": True}])
    result = drain(app, fail_fast=False)
    assert seen == [4]
    assert sorted(type(e.error).__name__ for e in result.errors) == ["PermanentError", "ValueError"]
    dlq = app.queue(app.dead_letter_queue_name("orders"))
    assert [e.payload["id"] for e in pending(app, dlq.name)] == [5]  # dead-lettered at once
    assert app.queue("orders").stats().in_flight == 1  # the retryable one waits for its retry


def test_eager_runs_the_task_before_send_returns() -> None:
    app, seen = make_app()
    with eager(app):
        app.tasks["record"].send({"id": 7})
        assert seen == [7]
        with pytest.raises(TaskFailed, match="boom 8"):
            app.tasks["record"].send({"id": 8, "boom": True})
    app.tasks["record"].send({"id": 9})  # eager mode off again
    assert seen == [7]


def test_eager_broadcast_fans_out_and_sends_every_message(tmp_path) -> None:
    settings = tayori.Settings(url=f"sqlite:///{tmp_path}")  # the mail store's directory
    app = tayori.App("mail", settings=settings, backend=MemoryBackend())
    transport = MemoryTransport()
    templates = Templates(sources={"n.subject": "Hi {{ name }}", "n.txt": "Hello {{ name }}"})
    mailer = Mailer(
        app, transport=transport, templates=templates, sender="news@example.com", chunk_size=2
    )
    people = [{"email": f"p{i}@example.org", "name": f"P{i}"} for i in range(5)]
    with eager(app):
        bid = mailer.broadcast("n", people)
    assert sorted(m.to[0] for m in transport.outbox) == [p["email"] for p in people]
    assert mailer.status(bid).sent == 5


def test_eager_runs_what_a_task_sends_to_another_queue() -> None:
    app, seen = make_app()

    @app.task(queue="intake")
    def intake(payload: Any) -> None:
        app.tasks["record"].send({"id": payload["id"] * 10})

    with eager(app):
        intake.send({"id": 4})
    assert seen == [40]


def test_a_large_payload_uses_the_memory_blob_store() -> None:
    app, seen = make_app(offload_threshold=1024)
    app.tasks["record"].send({"id": 10, "pad": "x" * 5000})
    store = app.backend.blob_store()
    assert len(store.keys()) == 1  # the body went to the blob store
    assert pending(app, "orders")[0].payload["pad"] == "x" * 5000
    drain(app)
    assert seen == [10] and store.keys() == []


def test_eager_needs_the_memory_backend(tmp_path) -> None:
    app = tayori.App("x", settings=tayori.Settings(url=f"sqlite:///{tmp_path}"))
    with pytest.raises(tayori.ConfigError, match="MemoryBackend"), eager(app):
        pass
