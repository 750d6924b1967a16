"""App and Task: the producer API, composing registry + codec + backend + handler.

``App`` is the top of the import graph: nothing below imports it. It wires the pieces
and keeps the public API; each piece can be built and tested on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from itertools import islice
from typing import Any

from tayori import logs
from tayori.backends import open_backend
from tayori.backends.base import MAX_RETENTION_SECONDS, Backend, Queue, QueueSpec, RedrivePolicy
from tayori.consumer.handler import Handler
from tayori.consumer.retry import RetryPolicy
from tayori.errors import ConfigError, QueueDoesNotExist
from tayori.producer import Producer
from tayori.registry import Registry, TaskDef, TaskFunction
from tayori.runtime.local import LocalRuntime, RuntimeConfig, Source
from tayori.settings import Settings
from tayori.wire.claimcheck import ClaimCheck
from tayori.wire.codec import TayoriCodec
from tayori.wire.envelope import Envelope
from tayori.wire.sqs import MAX_DELAY_SECONDS, check_queue_name


class Task(TaskDef):
    """A registered task with its producer API (``send``, ``send_many``, Celery's calls)."""

    def __init__(
        self,
        app: App,
        fn: TaskFunction,
        name: str,
        queue: str,
        idempotency_key: str | None,
        *,
        concurrency: int = 1,
    ) -> None:
        super().__init__(fn, name, queue, idempotency_key, concurrency=concurrency)
        self.app = app

    def envelope(self, payload: Any, key: str | None = None) -> Envelope:
        """A new logical send; ``key`` defaults to a fresh UUID kept across redelivery.

        The task's idempotency key is checked here: a payload it finds nothing in is
        refused at ``send()``, not dead-lettered later."""
        envelope = Envelope.new(self.name, payload, key)
        self.key_for(envelope)
        return envelope

    def send(self, payload: Any, delay_seconds: int = 0, key: str | None = None) -> str:
        """Enqueue one payload; returns the SQS-style message id."""
        return self.app.producer.send(self.queue, self.envelope(payload, key), delay_seconds)

    def send_many(
        self, payloads: Iterable[Any], delay_seconds: int = 0, *, chunk: int = 500
    ) -> list[str]:
        """Enqueue many payloads in batches of <= 10 entries and <= max batch bytes.

        ``payloads`` is consumed lazily, ``chunk`` at a time, so a generator of a
        million recipients does not sit in memory at once.
        """
        ids: list[str] = []
        for part in _chunks(iter(payloads), chunk):
            ids.extend(self.send_envelopes([self.envelope(p) for p in part], delay_seconds))
        return ids

    def send_envelopes(self, envelopes: Sequence[Envelope], delay_seconds: int = 0) -> list[str]:
        """Send prepared envelopes (keep them to retry a producer crash with the same keys)."""
        return self.app.producer.send_many(self.queue, envelopes, delay_seconds)

    def delay(self, payload: Any) -> str:
        """Celery-style: ``task.delay(payload)`` is ``task.send(payload)``."""
        return self.send(payload)

    def apply_async(
        self,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        countdown: float | None = None,
        **_options: Any,
    ) -> str:
        """Celery-style call. SQS delays cap at 900 s; longer countdowns are refused."""
        if kwargs:
            if args:
                raise ConfigError("apply_async takes one payload: args=(payload,) or kwargs")
            payload: Any = dict(kwargs)
        elif args and len(args) == 1:
            payload = args[0]
        else:
            raise ConfigError("apply_async takes one payload: args=(payload,) or kwargs")
        delay = 0 if countdown is None else round(countdown)
        if not 0 <= delay <= MAX_DELAY_SECONDS:
            raise ConfigError(
                f"countdown {countdown}s is over SQS's 900 s delay limit; schedule it instead"
            )
        return self.send(payload, delay_seconds=delay)


class App:
    """One application: its tasks, its backend and its Lambda entry point."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.name = name
        self.settings = settings if settings is not None else Settings()
        logs.configure(self.settings.log_level)
        self.registry = Registry(name)
        self._backend = backend
        self._queues: dict[str, Queue] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<App {self.name} tasks={sorted(self.tasks)}>"

    @property
    def tasks(self) -> dict[str, TaskDef]:
        return self.registry.tasks

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = open_backend(self.settings)
        return self._backend

    def task(
        self,
        fn: TaskFunction | None = None,
        *,
        name: str | None = None,
        queue: str = "default",
        idempotency_key: str | None = None,
        concurrency: int = 1,
    ) -> Any:
        """Register a task: ``@app.task`` or ``@app.task(queue=..., idempotency_key=...)``.

        ``concurrency``: records of one invocation that may run at once (I/O-bound tasks:
        Lambda bills the invocation's duration)."""

        def register(f: TaskFunction) -> Task:
            task = Task(
                self, f, name or f.__name__, queue, idempotency_key, concurrency=concurrency
            )
            self.registry.add(task)
            return task

        return register(fn) if fn is not None else register

    @property
    def queue_names(self) -> list[str]:
        return self.registry.queue_names

    # ------------------------------------------------------------------ queues

    def queue(self, name: str) -> Queue:
        """The named queue; created with its DLQ and redrive policy when missing."""
        queue = self._queues.get(name)
        if queue is not None:
            return queue
        with self._lock:
            queue = self._queues.get(name)
            if queue is None:
                queue = self._ensure_queue(name)
                self._queues[name] = queue
        return queue

    def _ensure_queue(self, name: str) -> Queue:
        try:
            return self.backend.get_queue(name)
        except QueueDoesNotExist:
            pass
        dlq = self.dead_letter_queue_name(name)
        size = self.settings.max_batch_bytes
        # the DLQ takes whatever the source queue takes: a dead letter keeps its body
        self.backend.create_queue(
            dlq, QueueSpec(retention_seconds=MAX_RETENTION_SECONDS, max_message_size=size)
        )
        return self.backend.create_queue(
            name,
            QueueSpec(
                visibility_timeout=self.settings.visibility_timeout,
                max_message_size=size,
                redrive=RedrivePolicy(dlq, self.settings.max_receive_count),
            ),
        )

    def dead_letter_queue_name(self, name: str) -> str:
        return check_queue_name(f"{name}{self.settings.dlq_suffix}")

    # ------------------------------------------------------------------ composition

    @cached_property
    def claim_check(self) -> ClaimCheck:
        return ClaimCheck(
            self.backend.blob_store,
            self.settings.bucket,
            self.settings.offload_threshold,
            self.settings.readable_buckets,
        )

    @cached_property
    def codec(self) -> TayoriCodec:
        return TayoriCodec(self.claim_check)

    @cached_property
    def producer(self) -> Producer:
        return Producer(self.codec, self.queue, self.settings.max_batch_bytes)

    @cached_property
    def handler(self) -> Handler:
        s = self.settings
        policy = RetryPolicy(
            base_seconds=s.retry_base_seconds,
            max_seconds=s.retry_max_seconds,
            outage_base_seconds=s.outage_retry_base_seconds,
            outage_max_seconds=s.outage_retry_max_seconds,
        )
        return Handler(self.registry, self.codec, self.backend, s, self.claim_check, policy=policy)

    def set_retry_policy(self, queue: str, policy: RetryPolicy) -> None:
        """Backoff for the tasks of one queue (a task's own ``retry_policy`` wins)."""
        self.handler.queue_policies[check_queue_name(queue)] = policy

    def lambda_handler(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """AWS Lambda entry point; the local runtime uses it too."""
        return self.handler(event, context)

    def source(self, queues: Sequence[str] | None = None, handler: Any = None) -> Source:
        """What a local runtime polls (these queues, default every task's) and invokes."""
        names = list(queues) if queues else self.queue_names
        if not names:
            raise ConfigError(f"app {self.name!r} has no tasks, so no queues to poll")
        return Source(
            queues=tuple(self.queue(n) for n in names),
            handler=handler or self.lambda_handler,
            function_name=self.name,
            region=self.backend.region,
        )

    def runtime(self, config: RuntimeConfig | None = None, *, handler: Any = None) -> LocalRuntime:
        """A local event-source-mapping emulator over this app's queues."""
        config = config or RuntimeConfig()
        return LocalRuntime(self.source(config.queues, handler), config)


def _chunks(it: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while part := list(islice(it, size)):
        yield part
