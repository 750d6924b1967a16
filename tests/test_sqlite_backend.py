"""Embedded-backend details the contract suite cannot assert on every backend
(AWS allows looser behaviour, or moto does not implement the rule)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from tayori.backends.base import HandleEntry, QueueSpec, RedrivePolicy, SendEntry
from tayori.backends.sqlite import SqliteBackend
from tayori.errors import (
    MessageNotInflight,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueUnavailable,
    ReceiptHandleIsInvalid,
)

pytestmark = pytest.mark.filterwarnings("ignore:Couldn.t determine the remaining time")


@pytest.fixture
def backend(tmp_path: Path) -> SqliteBackend:
    made = SqliteBackend(tmp_path / "store")
    yield made
    made.close()


def test_second_purge_within_60s_is_refused(backend: SqliteBackend) -> None:
    queue = backend.create_queue("q")
    queue.send("m")
    queue.purge()
    with pytest.raises(PurgeQueueInProgress):
        queue.purge()
    assert queue.stats().total == 0


def test_stale_handle_deletes_nothing_and_cannot_change_visibility(
    backend: SqliteBackend,
) -> None:
    queue = backend.create_queue("q", QueueSpec(visibility_timeout=3600))
    queue.send("m")
    [first] = queue.receive(visibility_timeout=0)
    [second] = queue.receive()
    queue.delete(first.receipt_handle)
    assert queue.stats().in_flight == 1  # the stale handle left the message alone
    with pytest.raises(ReceiptHandleIsInvalid):
        queue.change_visibility(first.receipt_handle, 0)
    result = queue.change_visibility_batch([HandleEntry("a", first.receipt_handle, 0)])
    assert [f.code for f in result.failed] == ["ReceiptHandleIsInvalid"]
    queue.delete(second.receipt_handle)
    assert queue.stats().total == 0


def test_change_visibility_after_expiry_is_not_in_flight(backend: SqliteBackend) -> None:
    queue = backend.create_queue("q")
    queue.send("m")
    [msg] = queue.receive(visibility_timeout=0)
    with pytest.raises(MessageNotInflight):
        queue.change_visibility(msg.receipt_handle, 10)


def test_a_handle_from_another_queue_deletes_nothing(backend: SqliteBackend) -> None:
    a = backend.create_queue("a")
    b = backend.create_queue("b")
    a.send("m")
    [msg] = a.receive()
    b.delete(msg.receipt_handle)
    assert a.stats().in_flight == 1
    with pytest.raises(ReceiptHandleIsInvalid):
        b.change_visibility(msg.receipt_handle, 0)


def test_send_to_a_deleted_queue_fails(backend: SqliteBackend) -> None:
    queue = backend.create_queue("gone")
    queue.send("warm the spec cache")
    backend.delete_queue("gone")
    with pytest.raises(QueueDoesNotExist):
        queue.send("m")
    with pytest.raises(QueueDoesNotExist):
        queue.send_batch([SendEntry("a", "m")])
    with pytest.raises(QueueDoesNotExist):
        queue.receive(wait_seconds=1)
    with pytest.raises(QueueDoesNotExist):
        backend.get_queue("gone")
    assert "gone" not in backend.list_queues()


def test_queue_delay_change_applies_to_an_existing_handle(backend: SqliteBackend) -> None:
    queue = backend.create_queue("q")
    queue.send("now")  # caches the spec
    backend.create_queue("q", QueueSpec(delay_seconds=60))
    queue.send("later")
    assert [m.body for m in queue.receive(max_messages=10)] == ["now"]
    assert queue.stats().delayed == 1


def test_expired_messages_are_neither_received_nor_counted(backend: SqliteBackend) -> None:
    queue = backend.create_queue("q")
    queue.send("old")
    with sqlite3.connect(backend.directory / "queues.db") as conn:
        conn.execute("UPDATE messages SET expires_at = ?", (time.time() - 1,))
    assert queue.stats().total == 0
    assert queue.receive(max_messages=10) == []


def test_dlq_retention_counts_from_the_original_enqueue(backend: SqliteBackend) -> None:
    dlq = backend.create_queue("dlq", QueueSpec(retention_seconds=60))
    src = backend.create_queue("src", QueueSpec(redrive=RedrivePolicy("dlq", 1)))
    src.send("poison")
    src.receive(visibility_timeout=0)
    assert src.receive(visibility_timeout=0) == []
    with sqlite3.connect(backend.directory / "queues.db") as conn:
        sent_at, expires_at = conn.execute("SELECT sent_at, expires_at FROM messages").fetchone()
    assert expires_at == pytest.approx(sent_at + 60)
    assert dlq.stats().visible == 1


def test_store_made_before_queue_delays_existed_is_upgraded(tmp_path: Path) -> None:
    directory = tmp_path / "old"
    directory.mkdir()
    with sqlite3.connect(directory / "queues.db") as conn:
        conn.execute(
            "CREATE TABLE queues (name TEXT PRIMARY KEY, visibility_timeout INTEGER NOT NULL,"
            " retention_seconds INTEGER NOT NULL, max_message_size INTEGER NOT NULL, dlq TEXT,"
            " max_receive_count INTEGER, created_at REAL NOT NULL, purged_at REAL)"
        )
        conn.execute("INSERT INTO queues VALUES ('old', 30, 345600, 262144, NULL, NULL, 0, NULL)")
    backend = SqliteBackend(directory)
    queue = backend.get_queue("old")
    assert queue.spec().delay_seconds == 0
    queue.send("m")
    assert len(queue.receive()) == 1
    backend.close()


def test_short_lived_threads_do_not_leak_connections(backend: SqliteBackend) -> None:
    queue = backend.create_queue("q")
    queue.send("warm up this thread")
    proc = psutil.Process()
    before = proc.num_fds()
    for _ in range(100):
        worker = threading.Thread(target=queue.send, args=("m",))
        worker.start()
        worker.join()
    assert proc.num_fds() - before < 10
    assert queue.stats().visible == 101


def test_fifty_threads_hammering_the_store_never_see_locked(tmp_path: Path) -> None:
    # two backend objects on one directory: the second contends through SQLite itself,
    # not through the first one's in-process lock
    first = SqliteBackend(tmp_path / "store")
    second = SqliteBackend(tmp_path / "store")
    queues = [
        first.create_queue("hammer", QueueSpec(visibility_timeout=3600)),
        second.get_queue("hammer"),
    ]
    layers = [first.persistence_layer(), second.persistence_layer()]
    functions = []
    for layer in layers:

        @idempotent_function(
            data_keyword_argument="payload",
            persistence_store=layer,
            config=IdempotencyConfig(event_key_jmespath="id"),
        )
        def task(payload: dict[str, Any]) -> str:
            return payload["id"]

        functions.append(task)

    errors: list[BaseException] = []
    sent: list[str] = []
    received: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def work(n: int) -> None:
        queue = queues[n % 2]
        task = functions[n % 2]
        try:
            barrier.wait()
            for i in range(10):
                mine = [queue.send(f"{n}-{i}")]
                result = queue.send_batch([SendEntry(f"e{j}", f"{n}-{i}-{j}") for j in range(3)])
                mine += [r.message_id for r in result.successful if r.message_id]
                got = queue.receive(max_messages=3)
                for msg in got:
                    if i % 2:
                        queue.delete(msg.receipt_handle)
                    else:
                        queue.change_visibility(msg.receipt_handle, 3600)
                queue.stats()
                try:
                    task(payload={"id": f"key-{i}"})  # 25 threads share each key
                except IdempotencyAlreadyInProgressError:
                    pass
                with lock:
                    sent.extend(mine)
                    received.extend(m.message_id for m in got)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(sent) == 50 * 10 * 4
    assert len(received) == len(set(received))  # never handed out twice while in flight
    stats = queues[0].stats()
    deleted = len(sent) - stats.total
    assert stats.visible + stats.in_flight + deleted == len(sent)
    assert stats.in_flight + deleted == len(received)
    first.close()
    second.close()


def test_reads_map_sqlite_errors_to_tayori_errors(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "store")
    queue = backend.create_queue("q")
    with sqlite3.connect(backend.directory / "queues.db") as conn:
        conn.execute("DROP TABLE messages")
    with pytest.raises(QueueUnavailable):
        queue.stats()
    backend.close()


def test_sql_binds_no_numbered_placeholders() -> None:
    """Numbered placeholders (``?1``) bound from a tuple warn on Python 3.13 and are an
    error from 3.14: the SQLite backend's SQL uses plain ``?`` or ``:name`` with a dict."""
    import re

    import tayori.backends.sqlite as package

    numbered = re.compile(r"\?\d")
    found = [
        f"{path.name}:{n}"
        for path in Path(package.__file__).parent.glob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if numbered.search(line)
    ]
    assert found == []
