"""Queue contract: SQS standard-queue semantics every backend must show.

Only behaviour SQS guarantees is asserted. Where AWS allows either of two outcomes
(a delete with a stale receipt handle may or may not delete) the test asserts the
part that is guaranteed (no error; the newest handle deletes).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from tayori.backends.base import (
    Attribute,
    Backend,
    HandleEntry,
    Queue,
    QueueMessage,
    QueueSpec,
    RedrivePolicy,
    SendEntry,
)
from tayori.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidParameterValue,
    QueueDoesNotExist,
    QueueError,
    QueueNameInvalid,
    ReceiptHandleIsInvalid,
    TooManyEntriesInBatchRequest,
)
from tayori.wire.sqs import md5_of_body

GARBAGE_HANDLE = "this-is-not-a-receipt-handle"


def receive_n(
    queue: Queue, n: int, *, timeout: float = 5.0, visibility_timeout: int | None = None
) -> list[QueueMessage]:
    """Receive until ``n`` messages arrived (short polls may return fewer than asked)."""
    out: list[QueueMessage] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += queue.receive(
            max_messages=min(10, n - len(out)),
            wait_seconds=1,
            visibility_timeout=visibility_timeout,
        )
    return out


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --------------------------------------------------------------------------- basics


def test_backend_satisfies_protocols(backend: Backend, queue: Queue) -> None:
    assert isinstance(backend, Backend)
    assert isinstance(queue, Queue)
    assert queue.arn.endswith(":" + queue.name)


def test_send_receive_delete(queue: Queue) -> None:
    body = 'héllo ✉️\nline two\t{"json": true}'
    before_ms = int(time.time() * 1000) - 2000
    message_id = queue.send(body)
    assert isinstance(message_id, str) and message_id

    [msg] = receive_n(queue, 1)
    assert msg.message_id == message_id
    assert msg.body == body
    assert msg.md5_of_body == md5_of_body(body)
    assert msg.receive_count == 1
    assert msg.attributes == {}
    assert before_ms <= msg.sent_timestamp_ms <= int(time.time() * 1000) + 2000
    assert msg.first_receive_timestamp_ms >= msg.sent_timestamp_ms - 2000
    record = msg.to_lambda_record(queue.arn, "us-east-1")
    assert record["messageId"] == message_id
    assert record["eventSourceARN"] == queue.arn

    # in flight: nobody else gets it
    assert queue.receive(max_messages=10) == []
    assert queue.stats().in_flight == 1

    queue.delete(msg.receipt_handle)
    assert wait_for(lambda: queue.stats().total == 0)
    assert queue.receive(max_messages=10, wait_seconds=1) == []


def test_attributes_round_trip(queue: Queue) -> None:
    attributes = {
        "s": Attribute.string("text ✓"),
        "n": Attribute.number(42),
        "f": Attribute("Number", "-1.5"),
        "b": Attribute("Binary", bytes(range(256))),
        "json": Attribute("String.json", '{"a": [1, 2]}'),
        "int": Attribute("Number.int", "7"),
        "gz": Attribute("Binary.gzip", b"\x1f\x8b\x00\x00"),
        "dotted.name-ok_1": Attribute.string("x"),
    }
    queue.send("body", attributes)
    [msg] = receive_n(queue, 1)
    assert dict(msg.attributes) == attributes
    assert isinstance(msg.attributes["b"].value, bytes)
    lambda_attrs = msg.to_lambda_record(queue.arn, "us-east-1")["messageAttributes"]
    assert {k: Attribute.from_lambda(v) for k, v in lambda_attrs.items()} == attributes


def test_send_batch_per_entry_results(queue: Queue) -> None:
    entries = [SendEntry(f"e{i}", f"body-{i}", {"i": Attribute.number(i)}) for i in range(10)]
    result = queue.send_batch(entries)
    assert result.failed == ()
    assert sorted(r.id for r in result.successful) == sorted(e.id for e in entries)
    ids = {r.id: r.message_id for r in result.successful}
    assert len(set(ids.values())) == 10

    got = receive_n(queue, 10)
    assert len(got) == 10
    by_id = {m.message_id: m for m in got}
    for entry in entries:
        msg = by_id[ids[entry.id]]
        assert msg.body == entry.body
        assert msg.attributes == entry.attributes


def test_send_batch_reports_a_bad_entry_and_sends_the_rest(queue: Queue) -> None:
    too_many_attrs = {f"a{i}": Attribute.string("v") for i in range(11)}
    result = queue.send_batch(
        [
            SendEntry("good", "fine"),
            SendEntry("bad", "has eleven attributes", too_many_attrs),
        ]
    )
    assert [r.id for r in result.successful] == ["good"]
    [failure] = result.failed
    assert failure.id == "bad"
    assert failure.code == "InvalidParameterValue"
    assert failure.sender_fault is True
    [msg] = receive_n(queue, 1)
    assert msg.body == "fine"


def test_spec_round_trip(backend: Backend, unique_name: Callable[..., str]) -> None:
    dlq = backend.create_queue(unique_name("dlq"))
    spec = QueueSpec(
        visibility_timeout=7,
        retention_seconds=3600,
        max_message_size=2048,
        delay_seconds=3,
        redrive=RedrivePolicy(dlq.name, 4),
    )
    queue = backend.create_queue(unique_name(), spec)
    assert queue.spec() == spec
    assert backend.get_queue(queue.name).spec() == spec


# --------------------------------------------------------------------------- errors


def test_batch_request_errors(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(max_message_size=1024)
    with pytest.raises(TooManyEntriesInBatchRequest) as exc:
        queue.send_batch([SendEntry(f"e{i}", "x") for i in range(11)])
    assert exc.value.code == "TooManyEntriesInBatchRequest"
    with pytest.raises(BatchEntryIdsNotDistinct) as exc2:
        queue.send_batch([SendEntry("same", "x"), SendEntry("same", "y")])
    assert exc2.value.code == "BatchEntryIdsNotDistinct"
    with pytest.raises(EmptyBatchRequest) as exc3:
        queue.send_batch([])
    assert exc3.value.code == "EmptyBatchRequest"
    with pytest.raises(BatchRequestTooLong) as exc4:
        queue.send_batch([SendEntry(f"e{i}", "x" * 400) for i in range(3)])
    assert exc4.value.code == "BatchRequestTooLong"
    with pytest.raises(EmptyBatchRequest):
        queue.delete_batch([])
    with pytest.raises(TooManyEntriesInBatchRequest):
        queue.change_visibility_batch([HandleEntry(f"e{i}", GARBAGE_HANDLE) for i in range(11)])
    with pytest.raises(BatchEntryIdsNotDistinct):
        queue.delete_batch([HandleEntry("a", GARBAGE_HANDLE), HandleEntry("a", GARBAGE_HANDLE)])
    # nothing was enqueued by any refused request
    assert queue.receive(max_messages=10, wait_seconds=1) == []


def test_message_errors(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(max_message_size=1024)
    queue.send("x" * 1024)  # exactly at the limit is fine
    with pytest.raises(InvalidParameterValue) as exc:  # MessageTooLong is a subclass
        queue.send("x" * 1025)
    assert exc.value.code == "InvalidParameterValue"
    with pytest.raises(InvalidParameterValue):  # attributes count towards the size
        queue.send("x" * 1000, {"pad": Attribute.string("y" * 100)})
    with pytest.raises(InvalidParameterValue):
        queue.send("x", {f"a{i}": Attribute.string("v") for i in range(11)})
    queue.send("x", {f"a{i}": Attribute.string("v") for i in range(10)})
    for delay in (-1, 901):
        with pytest.raises(InvalidParameterValue):
            queue.send("x", delay_seconds=delay)
    with pytest.raises(InvalidParameterValue):
        queue.send("")
    with pytest.raises(InvalidParameterValue):
        queue.receive(max_messages=11)
    with pytest.raises(InvalidParameterValue):
        queue.receive(max_messages=0)
    with pytest.raises(InvalidParameterValue):
        queue.receive(wait_seconds=21)
    with pytest.raises(InvalidParameterValue):
        queue.receive(visibility_timeout=12 * 3600 + 1)
    assert len(receive_n(queue, 2)) == 2


def test_invalid_receipt_handles(queue: Queue) -> None:
    with pytest.raises(ReceiptHandleIsInvalid) as exc:
        queue.delete(GARBAGE_HANDLE)
    assert exc.value.code == "ReceiptHandleIsInvalid"
    with pytest.raises(ReceiptHandleIsInvalid):
        queue.change_visibility(GARBAGE_HANDLE, 5)

    queue.send("m")
    [msg] = receive_n(queue, 1)
    result = queue.delete_batch(
        [HandleEntry("bad", GARBAGE_HANDLE), HandleEntry("good", msg.receipt_handle)]
    )
    assert [r.id for r in result.successful] == ["good"]
    assert [(f.id, f.code) for f in result.failed] == [("bad", "ReceiptHandleIsInvalid")]

    queue.send("n")
    [msg2] = receive_n(queue, 1)
    result = queue.change_visibility_batch(
        [HandleEntry("bad", GARBAGE_HANDLE, 0), HandleEntry("good", msg2.receipt_handle, 0)]
    )
    assert [r.id for r in result.successful] == ["good"]
    assert [(f.id, f.code) for f in result.failed] == [("bad", "ReceiptHandleIsInvalid")]
    [again] = receive_n(queue, 1)
    assert again.message_id == msg2.message_id


@pytest.mark.parametrize("name", ["../x", "a/b", "q.fifo", "x" * 81, "", "sp ace", "ü"])
def test_invalid_queue_names_are_refused(backend: Backend, name: str) -> None:
    with pytest.raises(QueueNameInvalid) as exc:
        backend.create_queue(name, QueueSpec(visibility_timeout=2))
    assert exc.value.code == "InvalidParameterValue"
    with pytest.raises((QueueNameInvalid, QueueDoesNotExist)):
        backend.get_queue(name)


def test_queue_names_up_to_80_characters(backend: Backend) -> None:
    name = ("Q_-" + uuid.uuid4().hex * 3)[:80]
    assert len(name) == 80
    queue = backend.create_queue(name, QueueSpec(visibility_timeout=2))
    assert queue.name == name
    assert name in backend.list_queues()


def test_get_queue(backend: Backend, queue: Queue, unique_name: Callable[..., str]) -> None:
    with pytest.raises(QueueDoesNotExist) as exc:
        backend.get_queue(unique_name("missing"))
    assert exc.value.code == "QueueDoesNotExist"
    assert isinstance(exc.value, QueueError)

    same = backend.get_queue(queue.name)
    assert same.name == queue.name
    assert same.arn == queue.arn
    same.send("via the second handle")
    [msg] = receive_n(queue, 1)
    assert msg.body == "via the second handle"


def test_redrive_policy_needs_an_existing_dlq(
    backend: Backend, unique_name: Callable[..., str]
) -> None:
    with pytest.raises(QueueDoesNotExist):
        backend.create_queue(
            unique_name(), QueueSpec(redrive=RedrivePolicy(unique_name("nodlq"), 3))
        )


# --------------------------------------------------------------------------- timing


def test_delay_seconds(queue: Queue) -> None:
    message_id = queue.send("later", delay_seconds=1)
    queue.send("now")
    [first] = receive_n(queue, 1)
    assert first.body == "now"
    stats = queue.stats()
    assert (stats.visible, stats.in_flight, stats.delayed) == (0, 1, 1)
    [later] = receive_n(queue, 1, timeout=5)
    assert later.message_id == message_id


def test_queue_level_delay_applies_to_plain_sends(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(delay_seconds=1)
    message_id = queue.send("delayed by the queue")
    assert queue.receive(max_messages=10) == []
    assert queue.stats().delayed == 1
    [msg] = receive_n(queue, 1, timeout=5)
    assert msg.message_id == message_id


def test_visibility_timeout_expiry(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(visibility_timeout=1)
    message_id = queue.send("m")
    [first] = receive_n(queue, 1)
    assert first.receive_count == 1
    assert queue.receive(max_messages=10) == []  # hidden while in flight
    time.sleep(1.1)
    [second] = receive_n(queue, 1)
    assert second.message_id == message_id
    assert second.receive_count == 2
    assert second.receipt_handle != first.receipt_handle
    assert second.first_receive_timestamp_ms == first.first_receive_timestamp_ms
    assert second.sent_timestamp_ms == first.sent_timestamp_ms


def test_per_call_visibility_timeout(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(visibility_timeout=60)
    message_id = queue.send("m")
    [first] = receive_n(queue, 1, visibility_timeout=1)
    assert first.message_id == message_id
    assert queue.receive(max_messages=10) == []
    time.sleep(1.1)
    [second] = receive_n(queue, 1)
    assert second.message_id == message_id
    assert second.receive_count == 2
    # and this receive used the queue's 60 s: hidden again
    time.sleep(1.1)
    assert queue.receive(max_messages=10) == []


def test_change_visibility_to_zero_and_longer(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(visibility_timeout=60)
    message_id = queue.send("m")
    [first] = receive_n(queue, 1)
    queue.change_visibility(first.receipt_handle, 0)
    [second] = receive_n(queue, 1, visibility_timeout=1)
    assert second.message_id == message_id
    assert second.receive_count == 2

    queue.change_visibility(second.receipt_handle, 30)  # extends past the 1 s of the receive
    time.sleep(1.2)
    assert queue.receive(max_messages=10) == []
    assert queue.stats().in_flight == 1


def test_change_visibility_batch(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(visibility_timeout=60)
    queue.send_batch([SendEntry(f"e{i}", f"m{i}") for i in range(3)])
    got = receive_n(queue, 3)
    assert len(got) == 3
    result = queue.change_visibility_batch(
        [HandleEntry(f"h{i}", m.receipt_handle, 0) for i, m in enumerate(got[:2])]
    )
    assert sorted(r.id for r in result.successful) == ["h0", "h1"]
    assert result.failed == ()
    again = receive_n(queue, 2)
    assert {m.message_id for m in again} == {m.message_id for m in got[:2]}
    assert all(m.receive_count == 2 for m in again)
    assert queue.receive(max_messages=10) == []  # the third is still in flight


def test_long_poll_returns_when_a_message_arrives(queue: Queue) -> None:
    def later() -> None:
        time.sleep(0.5)
        queue.send("arrived")

    sender = threading.Thread(target=later)
    start = time.monotonic()
    sender.start()
    try:
        messages = queue.receive(max_messages=10, wait_seconds=5)
    finally:
        sender.join()
    elapsed = time.monotonic() - start
    assert [m.body for m in messages] == ["arrived"]
    assert elapsed < 3.0


def test_long_poll_returns_empty_after_the_wait(queue: Queue) -> None:
    start = time.monotonic()
    assert queue.receive(max_messages=10, wait_seconds=1) == []
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 3.0


def test_delete_batch(queue: Queue) -> None:
    queue.send_batch([SendEntry(f"e{i}", f"m{i}") for i in range(5)])
    got = receive_n(queue, 5)
    assert len(got) == 5
    result = queue.delete_batch([HandleEntry(f"d{i}", m.receipt_handle) for i, m in enumerate(got)])
    assert sorted(r.id for r in result.successful) == [f"d{i}" for i in range(5)]
    assert result.failed == ()
    assert wait_for(lambda: queue.stats().total == 0)
    assert queue.receive(max_messages=10, wait_seconds=1) == []


def test_stale_receipt_handle_delete_is_not_an_error(queue: Queue) -> None:
    message_id = queue.send("m")
    [first] = receive_n(queue, 1, visibility_timeout=0)
    [second] = receive_n(queue, 1, visibility_timeout=30)
    assert second.message_id == message_id
    assert second.receipt_handle != first.receipt_handle
    queue.delete(first.receipt_handle)  # SQS: success; may or may not delete
    queue.delete(second.receipt_handle)  # the newest handle always deletes
    assert wait_for(lambda: queue.stats().total == 0)
    assert queue.receive(max_messages=10, wait_seconds=1) == []


def test_redrive_moves_to_dlq_keeping_the_message_id(
    queue_with_dlq: tuple[Queue, Queue],
) -> None:
    source, dlq = queue_with_dlq
    attributes = {"k": Attribute.string("v")}
    message_id = source.send("poison", attributes)
    counts = []
    for _ in range(2):  # maxReceiveCount = 2: two receives are allowed
        [msg] = receive_n(source, 1, visibility_timeout=0)
        counts.append(msg.receive_count)
    assert counts == [1, 2]
    # the next receive would push the count over 2: the message moves instead
    assert source.receive(max_messages=10, wait_seconds=1, visibility_timeout=0) == []
    [dead] = receive_n(dlq, 1)
    assert dead.message_id == message_id
    assert dead.body == "poison"
    assert dead.attributes == attributes
    assert wait_for(lambda: source.stats().total == 0)


def test_purge(queue: Queue) -> None:
    queue.send_batch([SendEntry(f"e{i}", f"m{i}") for i in range(3)])
    queue.send("delayed", delay_seconds=60)
    queue.purge()
    assert wait_for(lambda: queue.stats().total == 0)
    assert queue.receive(max_messages=10, wait_seconds=1) == []
    # SQS refuses a second purge within 60 s (PurgeQueueInProgress); moto 5.2 does not
    # implement that rule, so it is tested on the embedded backend (test_sqlite_backend.py).
    # the queue still works after a purge
    queue.send("after")
    [msg] = receive_n(queue, 1)
    assert msg.body == "after"


def test_stats(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(visibility_timeout=60)
    assert (queue.stats().visible, queue.stats().in_flight, queue.stats().delayed) == (0, 0, 0)
    queue.send_batch([SendEntry(f"e{i}", f"m{i}") for i in range(4)])
    queue.send("delayed", delay_seconds=60)
    receive_n(queue, 1)
    stats = queue.stats()
    assert (stats.visible, stats.in_flight, stats.delayed) == (3, 1, 1)
    assert stats.total == 5
