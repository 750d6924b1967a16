"""``send_many`` hands the embedded queue groups of batches to store in one transaction
(one commit instead of one per 10 messages); what it returns, stores and reports on
failure is what batch-by-batch sending gives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import tayori
from tayori.backends.base import BatchResult, EntryFailure, EntryResult, SendEntry
from tayori.backends.sqlite.queue import SqliteQueue
from tayori.errors import BatchEntryIdsNotDistinct, QueueUnavailable, SendFailed
from tayori.producer import GROUP_BATCHES, Producer
from tayori.wire.codec import Outgoing
from tayori.wire.envelope import Envelope


def _app(tmp_path: Path) -> tuple[tayori.App, tayori.app.Task]:
    app = tayori.App("groups", settings=tayori.Settings(url=f"sqlite:///{tmp_path}/q"))

    @app.task(queue="work", idempotency_key="n")
    def work(payload: dict) -> None:
        return None

    return app, work


def _drain(app: tayori.App) -> dict[str, int]:
    """message id -> payload n, every message of the queue, deleted as it is read."""
    queue, seen = app.queue("work"), {}
    while batch := queue.receive(10):
        for message in batch:
            seen[message.message_id] = Envelope.parse(message.body).payload["n"]
            queue.delete(message.receipt_handle)
    return seen


def test_send_many_stores_groups_in_one_call_each_and_returns_every_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, work = _app(tmp_path)
    groups: list[int] = []
    real = SqliteQueue.send_batches

    def spy(self: SqliteQueue, batches: Sequence[Sequence[SendEntry]]) -> list[BatchResult]:
        groups.append(len(batches))
        return real(self, batches)

    monkeypatch.setattr(SqliteQueue, "send_batches", spy)
    ids = work.send_many({"n": i} for i in range(2345))  # in chunks of 500
    assert groups == [50, 50, 50, 50, 35]  # each chunk's batches of 10: one call
    assert GROUP_BATCHES >= 50
    assert len(ids) == len(set(ids)) == 2345
    stored = _drain(app)
    assert [stored[i] for i in ids] == list(range(2345))  # each id is its own payload's


def test_a_group_that_fails_as_a_whole_stores_nothing(tmp_path: Path) -> None:
    app, work = _app(tmp_path)
    work.send({"n": -1})  # creates the queue
    queue = app.queue("work")
    good = [SendEntry(str(i), f"body {i}") for i in range(10)]
    twins = [SendEntry("0", "a"), SendEntry("0", "b")]
    with pytest.raises(BatchEntryIdsNotDistinct):
        queue.send_batches([good, good, twins])
    assert list(_drain(app).values()) == [-1]  # the first two batches were rolled back


def test_then_each_batch_goes_on_its_own_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, work = _app(tmp_path)

    def down(self: SqliteQueue, batches: object) -> list[BatchResult]:
        raise QueueUnavailable("disk I/O error")

    monkeypatch.setattr(SqliteQueue, "send_batches", down)
    ids = work.send_many({"n": i} for i in range(250))
    stored = _drain(app)
    assert sorted(stored.values()) == list(range(250)) and set(stored) == set(ids)


class Refusing:
    """A queue (logic only) that refuses bodies containing "bad", per entry, as SQS does."""

    name = "fake"

    def __init__(self) -> None:
        self.stored: list[str] = []
        self.calls = 0

    def send_batch(self, entries: Sequence[SendEntry]) -> BatchResult:
        ok, failed = [], []
        for entry in entries:
            if "bad" in entry.body:
                failed.append(EntryFailure(entry.id, "InvalidMessageContents", "refused"))
            else:
                self.stored.append(entry.body)
                ok.append(EntryResult(entry.id, f"m{len(self.stored)}"))
        return BatchResult(tuple(ok), tuple(failed))

    def send_batches(self, batches: Sequence[Sequence[SendEntry]]) -> list[BatchResult]:
        self.calls += 1
        return [self.send_batch(batch) for batch in batches]


class Plain:
    """Encodes a payload as its own string (the codec is not under test here)."""

    def encode(self, envelope: str, delay_seconds: int = 0) -> Outgoing:
        return Outgoing(envelope, {}, delay_seconds)


def test_send_failed_names_every_failed_index_and_every_sent_id() -> None:
    queue = Refusing()
    producer = Producer(Plain(), lambda name: queue, 256 * 1024)  # type: ignore[arg-type]
    bodies = [f"bad {i}" if i in (1003, 1207, 1999) else f"ok {i}" for i in range(2500)]
    with pytest.raises(SendFailed) as caught:
        producer.send_many("fake", bodies)  # type: ignore[arg-type]
    failed = caught.value.failed
    assert sorted(failed) == [1003, 1207, 1999]  # the second group, finished; no third
    assert failed[1003] == ("InvalidMessageContents", "refused")
    assert "3 of 2000 messages not enqueued to fake" in str(caught.value)
    assert len(caught.value.sent) == len(queue.stored) == 1997
    assert queue.stored == [b for b in bodies[:2000] if b.startswith("ok")]
    assert queue.calls == 2  # one call per group of 100 batches


def test_task_send_many_reports_indexes_and_ids_of_the_whole_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure in the third chunk of 500: its indexes count from the first payload, and
    ``sent`` holds the ids of the two chunks before it too."""
    app, work = _app(tmp_path)
    real = SqliteQueue.send_batch

    def refuse_1234(self: SqliteQueue, entries: Sequence[SendEntry]) -> BatchResult:
        keep = [e for e in entries if '"n":1234' not in e.body]
        result = real(self, keep)
        refused = [
            EntryFailure(e.id, "InvalidMessageContents", "no") for e in entries if e not in keep
        ]
        return BatchResult(result.successful, (*result.failed, *refused))

    monkeypatch.setattr(SqliteQueue, "send_batch", refuse_1234)
    with pytest.raises(SendFailed) as caught:
        work.send_many({"n": i} for i in range(3000))
    assert list(caught.value.failed) == [1234]
    assert len(caught.value.sent) == 1499  # chunks 1-3, less the refused one
    assert set(caught.value.sent) == set(_drain(app))
