"""The embedded store under real concurrency: processes and threads on one SQLite file.

Worker functions are module-level so that ``spawn`` children can import them.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from tayori.backends.base import QueueSpec, SendEntry
from tayori.backends.sqlite import SqliteBackend

pytestmark = pytest.mark.filterwarnings("ignore:Couldn.t determine the remaining time")

MESSAGES = 400
PROCESSES = 4


# --------------------------------------------------------------------------- workers


def _consume(directory: str, queue_name: str, out: str, barrier: Any) -> None:
    """Receive (never delete) until the queue has nothing visible; write the ids."""
    backend = SqliteBackend(directory)
    queue = backend.get_queue(queue_name)
    ids: list[str] = []
    barrier.wait(timeout=60)
    empty = 0
    while empty < 3:
        got = queue.receive(max_messages=10, visibility_timeout=3600)
        if got:
            empty = 0
            ids += [m.message_id for m in got]
        else:
            empty += 1
            time.sleep(0.01)
    Path(out).write_text(json.dumps(ids))
    backend.close()


def _send_from_threads(backend: SqliteBackend, queue_name: str, out: str, threads: int) -> None:
    """Several threads of one process send singles and batches; write the ids."""
    queue = backend.get_queue(queue_name)
    ids: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            mine = [queue.send(f"p-{t}-{i}") for i in range(10)]
            for b in range(2):
                result = queue.send_batch([SendEntry(f"e{i}", f"b-{t}-{b}-{i}") for i in range(10)])
                assert result.failed == ()
                mine += [r.message_id for r in result.successful if r.message_id]
            with lock:
                ids.extend(mine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    Path(out).write_text(json.dumps(ids))


def _race_key(directory: str, key: str, marker_dir: str, barrier: Any) -> None:
    backend = SqliteBackend(directory)

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=backend.persistence_layer(),
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def body(payload: dict[str, Any]) -> str:
        (Path(marker_dir) / str(uuid.uuid4())).write_text("ran")
        time.sleep(0.3)
        return "done"

    barrier.wait(timeout=60)
    try:
        assert body(payload={"id": key}) == "done"
    except IdempotencyAlreadyInProgressError:
        pass
    backend.close()


def _run(processes: list[multiprocessing.process.BaseProcess], timeout: float = 120) -> None:
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout)
    for p in processes:
        if p.is_alive():  # pragma: no cover - a hang is a failure, not a leak
            p.kill()
            p.join()
    assert [p.exitcode for p in processes] == [0] * len(processes)


# --------------------------------------------------------------------------- tests


def test_processes_never_share_an_in_flight_message(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "store")
    queue = backend.create_queue("work", QueueSpec(visibility_timeout=3600))
    sent: list[str] = []
    for start in range(0, MESSAGES, 10):
        result = queue.send_batch([SendEntry(f"e{i}", f"m{start + i}") for i in range(10)])
        sent += [r.message_id for r in result.successful if r.message_id]
    assert len(sent) == MESSAGES

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    outs = [tmp_path / f"ids-{i}.json" for i in range(PROCESSES)]
    _run(
        [
            ctx.Process(target=_consume, args=(str(tmp_path / "store"), "work", str(o), barrier))
            for o in outs
        ]
    )
    per_process = [json.loads(o.read_text()) for o in outs]
    received = [mid for ids in per_process for mid in ids]
    counts = Counter(received)
    assert [mid for mid, n in counts.items() if n > 1] == []
    assert len(received) == MESSAGES
    assert set(received) == set(sent)
    stats = queue.stats()
    assert (stats.visible, stats.in_flight) == (0, MESSAGES)
    backend.close()


def test_threads_and_processes_sending_lose_nothing(tmp_path: Path) -> None:
    # fork: the children inherit a backend whose parent connections must not be reused
    backend = SqliteBackend(tmp_path / "store")
    queue = backend.create_queue("work", QueueSpec(visibility_timeout=3600))
    ctx = multiprocessing.get_context("fork")
    outs = [tmp_path / f"sent-{i}.json" for i in range(3)]
    procs = [
        ctx.Process(target=_send_from_threads, args=(backend, "work", str(o), 4)) for o in outs[:2]
    ]
    for p in procs:
        p.start()
    _send_from_threads(backend, "work", str(outs[2]), 4)  # and the parent's own threads
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]

    sent = [mid for o in outs for mid in json.loads(o.read_text())]
    assert len(sent) == 3 * 4 * 30
    assert len(set(sent)) == len(sent)
    received: list[str] = []
    while batch := queue.receive(max_messages=10):
        received += [m.message_id for m in batch]
    assert sorted(received) == sorted(sent)
    backend.close()


def test_eight_threads_racing_one_key_run_the_body_once(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "store")
    runs = 0
    runs_lock = threading.Lock()

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=backend.persistence_layer(),
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def body(payload: dict[str, Any]) -> dict[str, str]:
        nonlocal runs
        with runs_lock:
            runs += 1
        time.sleep(0.2)
        return {"sent": payload["id"]}

    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def racer() -> None:
        barrier.wait()
        try:
            outcomes.append(body(payload={"id": "the-key"}))
        except IdempotencyAlreadyInProgressError as exc:
            outcomes.append(exc)
        except BaseException as exc:  # anything else is a bug
            outcomes.append(exc)

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert runs == 1
    assert len(outcomes) == 8
    for outcome in outcomes:
        assert outcome == {"sent": "the-key"} or isinstance(
            outcome, IdempotencyAlreadyInProgressError
        ), outcome
    assert outcomes.count({"sent": "the-key"}) >= 1
    # after the race the stored result is returned without running again
    assert body(payload={"id": "the-key"}) == {"sent": "the-key"}
    assert runs == 1
    backend.close()


def test_processes_racing_one_key_run_the_body_once(tmp_path: Path) -> None:
    store = tmp_path / "store"
    SqliteBackend(store).persistence_layer()  # create the file before the race
    markers = tmp_path / "markers"
    markers.mkdir()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    _run(
        [
            ctx.Process(target=_race_key, args=(str(store), "k-1", str(markers), barrier))
            for _ in range(PROCESSES)
        ]
    )
    assert len(list(markers.iterdir())) == 1
