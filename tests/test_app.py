"""Producer API on the embedded backend: batching, claim-check, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tayori
from tayori import producer
from tayori.backends.base import Attribute, message_size
from tayori.backends.sqlite import SqliteBackend
from tayori.errors import ConfigError, InvalidParameterValue, QueueNameInvalid


@pytest.fixture
def app(tmp_path: Path) -> tayori.App:
    return tayori.App("shop", settings=tayori.Settings(url=f"sqlite:///{tmp_path}/store"))


def test_task_registration_and_direct_call(app: tayori.App) -> None:
    @app.task(queue="mail", idempotency_key="order_id")
    def notify(payload: dict) -> int:
        return payload["order_id"] * 2

    assert notify({"order_id": 4}) == 8
    assert app.tasks == {"notify": notify} and app.queue_names == ["mail"]
    with pytest.raises(ConfigError, match="already registered"):
        app.task(name="notify")(lambda p: p)
    with pytest.raises(QueueNameInvalid):
        app.task(queue="../etc")(lambda p: p)
    with pytest.raises(ConfigError, match="JMESPath"):
        app.task(name="x", idempotency_key="a[")(lambda p: p)


def test_send_creates_queue_with_dlq_and_returns_message_id(app: tayori.App) -> None:
    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    mid = notify.send({"order_id": 1})
    queue = app.queue("mail")
    spec = queue.spec()
    assert spec.redrive is not None and spec.redrive.dead_letter_queue == "mail-dlq"
    (msg,) = queue.receive(1)
    assert msg.message_id == mid
    env = tayori.Envelope.parse(msg.body)
    assert env.task == "notify" and env.payload == {"order_id": 1} and env.key


def test_send_many_batches_by_count_and_bytes(app: tayori.App, monkeypatch) -> None:
    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    sizes: list[tuple[int, int]] = []
    real = producer.send_batch

    def spy(queue, batch, first=None):
        sizes.append((len(batch), sum(message_size(i.body, i.attributes) for i in batch)))
        return real(queue, batch, first)

    monkeypatch.setattr(producer, "send_batch", spy)
    payloads = [{"n": i, "pad": "x" * (30_000 if i % 3 == 0 else 10)} for i in range(40)]
    ids = notify.send_many(payloads)
    assert len(ids) == len(set(ids)) == 40
    assert all(n <= 10 and size <= app.settings.max_batch_bytes for n, size in sizes)
    assert sum(n for n, _ in sizes) == 40
    assert app.queue("mail").stats().visible == 40


def test_send_many_streams_a_generator(app: tayori.App) -> None:
    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    pulled = []

    def gen():
        for i in range(1200):
            pulled.append(i)
            yield {"n": i}

    assert len(notify.send_many(gen(), chunk=100)) == 1200 and len(pulled) == 1200


def test_large_body_is_offloaded_and_small_one_is_not(app: tayori.App, tmp_path: Path) -> None:
    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    notify.send({"text": "x" * 300_000})
    notify.send({"text": "small"})
    msgs = app.queue("mail").receive(10)
    (pointer,) = [m for m in msgs if "PayloadS3Pointer" in m.body]
    (inline,) = [m for m in msgs if m is not pointer]
    assert json.loads(pointer.body)[0] == "software.amazon.payloadoffloading.PayloadS3Pointer"
    assert int(pointer.attributes["ExtendedPayloadSize"].value) > 300_000
    assert "ExtendedPayloadSize" not in inline.attributes
    assert any((tmp_path / "store" / "blobs" / "tayori").rglob("*"))


@pytest.mark.parametrize("delay", [-1, 901, 1.5])
def test_invalid_delay_is_refused_before_anything_is_stored(app: tayori.App, delay) -> None:
    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    with pytest.raises(InvalidParameterValue, match="DelaySeconds"):
        notify.send({"x": "y" * 400_000}, delay_seconds=delay)
    assert not (Path(app.settings.sqlite_path) / "blobs").exists()


def test_unserialisable_payload_is_a_clear_error(app: tayori.App) -> None:
    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    with pytest.raises(InvalidParameterValue, match="not JSON-serialisable"):
        notify.send({"at": object()})


def test_celery_style_calls(app: tayori.App) -> None:
    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    notify.delay({"a": 1})
    notify.apply_async(({"b": 2},), countdown=5)
    notify.apply_async(kwargs={"payload": {"c": 3}})
    notify.apply_async(({"d": 4},), countdown=3600)  # beyond 900 s: hops (issue 11)
    stats = app.queue("mail").stats()
    assert (stats.visible, stats.delayed) == (2, 2)
    # Celery's calling convention: kwargs are the function's keyword arguments
    with pytest.raises(TypeError, match="payload"):
        notify.apply_async(kwargs={"c": 3})


def test_message_too_big_even_for_a_pointer_is_refused(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "s")
    app = tayori.App("a", backend=backend, settings=tayori.Settings(offload_threshold=1_048_576))

    @app.task(queue="mail")
    def notify(payload: dict) -> None: ...

    with pytest.raises(InvalidParameterValue, match="over the queue limit"):
        notify.send({"text": "x" * 500_000})
    assert app.queue("mail").stats().total == 0


def test_reserved_attribute_sizes_count() -> None:
    assert message_size("ab", {"n": Attribute.number(5)}) == 2 + 1 + len("Number") + 1


def test_a_missing_idempotency_key_is_refused_at_send(app: tayori.App) -> None:
    from tayori.errors import MissingIdempotencyKey

    @app.task(queue="mail", idempotency_key="order_id")
    def notify(payload: dict) -> None: ...

    with pytest.raises(MissingIdempotencyKey, match="found nothing"):
        notify.send({"other": 1})
    with pytest.raises(MissingIdempotencyKey, match="found nothing"):
        notify.send_many([{"order_id": 1}, {"order_id": None}])
    assert app.queue("mail").stats().total == 0
