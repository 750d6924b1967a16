"""Test doubles for your own test suite (and tayori's): shipped, documented, supported.

In-memory backend, drained in the test's thread::

    import tayori
    from tayori.testing import MemoryBackend, drain, pending

    app = tayori.App("shop", backend=MemoryBackend())

    @app.task(queue="mail")
    def notify(payload): ...

    notify.send({"order_id": 1})
    assert [e.payload for e in pending(app, "mail")] == [{"order_id": 1}]
    drain(app)          # runs it through app.lambda_handler; raises TaskFailed on error

Eager mode (every send runs its task before ``send`` returns)::

    with eager(app):
        notify.send({"order_id": 2})

Mail: ``MemoryTransport`` keeps what it was asked to send (``.outbox`` for tayori
messages, ``.sent`` for raw messages such as Django's). ``SimulatedProvider`` behaves
like a rate-limited provider (throttling, latency, transient errors); ``ChaosHandler``
wraps a handler to deliver batches twice and kill executions half-way.

``MemoryBackend`` passes the same contract suite as the SQLite and AWS backends, and
``drain`` goes through the real handler (envelope, claim-check, idempotency, retry and
DLQ decisions), so what passes here behaves the same under ``tayori worker`` and Lambda.
In a Django project: ``TAYORI = {"TEST_MODE": "memory"}`` or ``"eager"`` (docs/django.md).
"""

from __future__ import annotations

from tayori.testing.chaos import ChaosConfig, ChaosHandler, InvocationKilled
from tayori.testing.mail import MemoryTransport, Sent
from tayori.testing.memory import MemoryBackend, MemoryBlobStore, MemoryQueue
from tayori.testing.provider import Delivery, SimulatedProvider
from tayori.testing.runner import DrainResult, TaskFailed, drain, eager, pending, set_eager

__all__ = [
    "ChaosConfig",
    "ChaosHandler",
    "Delivery",
    "DrainResult",
    "InvocationKilled",
    "MemoryBackend",
    "MemoryBlobStore",
    "MemoryQueue",
    "MemoryTransport",
    "Sent",
    "SimulatedProvider",
    "TaskFailed",
    "drain",
    "eager",
    "pending",
    "set_eager",
]
