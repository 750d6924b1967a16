"""Run an app's queued tasks in the test's own thread: ``drain`` and eager mode.

``drain`` receives what is visible, hands each batch to ``app.lambda_handler`` -- the
same code path as Lambda and ``tayori worker`` (envelope, claim-check, idempotency,
retry and DLQ decisions) -- deletes what succeeded, and repeats until the queues are
empty. Running in the caller's thread matters in a Django ``TestCase``: the task sees
the test's uncommitted rows, as a worker thread with its own connection would not.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tayori.backends.base import HandleEntry
from tayori.errors import ConfigError, TaskFailed
from tayori.testing.memory import MemoryBackend, MemoryQueue


@dataclass
class DrainResult:
    """What one ``drain`` did: records handled, succeeded, failed (with their errors)."""

    handled: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: list[TaskFailed] = field(default_factory=list)


_local = threading.local()


def drain(
    app: Any,
    queues: Iterable[str] | None = None,
    *,
    fail_fast: bool = True,
    include_delayed: bool = True,
    max_batches: int = 10_000,
) -> DrainResult:
    """Run every message queued on ``queues`` (default: the app's) until none is left.

    ``fail_fast`` raises the first task error as ``TaskFailed`` (``.error`` is the
    original exception), like dramatiq's ``join(fail_fast=True)``; otherwise errors are
    collected in the result and the failed messages stay in flight until their retry
    time. ``include_delayed`` runs delayed messages now instead of waiting.
    """
    names = list(queues) if queues is not None else list(app.queue_names)
    result = DrainResult()
    errors: list[TaskFailed] = []
    with _watching(app, errors):
        for _ in range(max_batches):
            progressed = False
            for name in names:
                queue = app.queue(name)
                if include_delayed and isinstance(queue, MemoryQueue):
                    queue.release_delayed()
                messages = queue.receive(max_messages=10)
                if not messages:
                    continue
                progressed = True
                _run_batch(app, queue, messages, result)
                if errors:
                    result.errors.extend(errors)
                    if fail_fast:
                        raise errors[0]
                    errors.clear()
            if not progressed:
                return result
    raise ConfigError(f"drain stopped after {max_batches} batches: do tasks keep sending?")


def _run_batch(app: Any, queue: Any, messages: list[Any], result: DrainResult) -> None:
    records = [m.to_lambda_record(queue.arn, app.backend.region) for m in messages]
    response = app.lambda_handler({"Records": records}) or {}
    failed = {f.get("itemIdentifier") for f in response.get("batchItemFailures", [])}
    done = [m for m in messages if m.message_id not in failed]
    for start in range(0, len(done), 10):
        queue.delete_batch(
            [HandleEntry(str(i), m.receipt_handle) for i, m in enumerate(done[start : start + 10])]
        )
    result.handled += len(messages)
    result.succeeded += len(done)
    result.failed += len(messages) - len(done)


@contextmanager
def _watching(app: Any, errors: list[TaskFailed]) -> Iterator[None]:
    """Wrap each task function to keep the exception the handler turns into a retry."""
    originals = {}
    for task in list(app.tasks.values()):
        originals[task] = task.fn

        def watched(payload: Any, _fn: Any = task.fn, _name: str = task.name) -> Any:
            try:
                return _fn(payload)
            except Exception as exc:
                errors.append(TaskFailed(_name, exc))
                raise

        task.fn = watched
    try:
        yield
    finally:
        for task, fn in originals.items():
            task.fn = fn


def set_eager(app: Any, on: bool = True) -> None:
    """Eager mode on an app with a ``MemoryBackend``: every send runs its task at once,
    in the sender's thread, and a task's error is raised from the send as ``TaskFailed``
    (the message itself stays queued for its retry, as it would in production)."""
    backend = app.backend
    if not isinstance(backend, MemoryBackend):
        raise ConfigError(
            "eager mode needs tayori.App(..., backend=tayori.testing.MemoryBackend())"
        )

    def run(queue_name: str) -> None:
        if getattr(_local, "draining", False):
            return  # a task sent more work: the outer drain picks it up
        _local.draining = True
        try:
            drain(app, sorted({queue_name, *app.queue_names}))  # and what its tasks send
        finally:
            _local.draining = False

    backend.on_send = run if on else None


@contextmanager
def eager(app: Any) -> Iterator[Any]:
    """``with eager(app): task.send(...)`` runs the task before ``send`` returns."""
    set_eager(app, True)
    try:
        yield app
    finally:
        set_eager(app, False)


def pending(app: Any, queue: str) -> list[Any]:
    """The envelopes waiting in ``queue`` (oldest first), without receiving them."""
    q = app.queue(queue)
    if not isinstance(q, MemoryQueue):
        raise ConfigError("pending() needs tayori.testing.MemoryBackend")
    return [app.codec.decode(m.body, m.attributes).envelope for m in q.peek()]
