"""App and Task: the registry of task functions and the producer API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from itertools import islice
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from tayori import logs, producer
from tayori.backends import open_backend
from tayori.backends.base import (
    MAX_RETENTION_SECONDS,
    Backend,
    Queue,
    QueueSpec,
    RedrivePolicy,
    check_queue_name,
)
from tayori.envelope import Envelope
from tayori.errors import ConfigError, MissingIdempotencyKey, QueueDoesNotExist
from tayori.settings import Settings

TaskFunction = Callable[[Any], Any]


class Task:
    """A registered task function. Calling it runs the function here, without a queue."""

    def __init__(
        self,
        app: App,
        fn: TaskFunction,
        name: str,
        queue: str,
        idempotency_key: str | None,
    ) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.queue = check_queue_name(queue)
        self.idempotency_key = idempotency_key
        try:
            self._key_expr = jmespath.compile(idempotency_key) if idempotency_key else None
        except JMESPathError as exc:
            raise ConfigError(
                f"task {name!r}: invalid idempotency_key JMESPath {idempotency_key!r}: {exc}"
            ) from None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue}>"

    def __call__(self, payload: Any) -> Any:
        return self.fn(payload)

    # ------------------------------------------------------------------ producer

    def envelope(self, payload: Any, key: str | None = None) -> Envelope:
        """A new logical send; ``key`` defaults to a fresh UUID kept across redelivery."""
        return Envelope.new(self.name, payload, key)

    def send(self, payload: Any, delay_seconds: int = 0, key: str | None = None) -> str:
        """Enqueue one payload; returns the SQS-style message id."""
        item = self.app._encode(self.envelope(payload, key), delay_seconds)
        return producer.send_one(self.app.queue(self.queue), item)

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

    def send_envelopes(self, envelopes: list[Envelope], delay_seconds: int = 0) -> list[str]:
        """Send prepared envelopes (keep them to retry a producer crash with the same keys)."""
        queue = self.app.queue(self.queue)
        items = [self.app._encode(env, delay_seconds) for env in envelopes]
        ids: list[str] = []
        for batch in producer.batches(items, self.app.settings.max_batch_bytes):
            ids.extend(producer.send_batch(queue, batch))
        return ids

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
        if not 0 <= delay <= 900:
            raise ConfigError(
                f"countdown {countdown}s is over SQS's 900 s delay limit; schedule it instead"
            )
        return self.send(payload, delay_seconds=delay)

    # ------------------------------------------------------------------ consumer

    def key_for(self, envelope: Envelope) -> str | None:
        """Business key from the payload if the task names one, else the envelope key."""
        if self._key_expr is None:
            return envelope.key
        try:
            value = self._key_expr.search(envelope.payload)
        except (JMESPathError, TypeError, ValueError) as exc:
            raise MissingIdempotencyKey(
                f"task {self.name!r}: idempotency key {self.idempotency_key!r} failed: {exc}"
            ) from None
        if value is None or value == "" or value == [] or value == {}:
            raise MissingIdempotencyKey(
                f"task {self.name!r}: idempotency key {self.idempotency_key!r} "
                "found nothing in the payload"
            )
        return value if isinstance(value, str) else _canonical(value)


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
        self._backend = backend
        self.tasks: dict[str, Task] = {}
        self._queues: dict[str, Queue] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<App {self.name} tasks={sorted(self.tasks)}>"

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
    ) -> Any:
        """Register a task: ``@app.task`` or ``@app.task(queue=..., idempotency_key=...)``."""

        def register(f: TaskFunction) -> Task:
            task_name = name or f.__name__
            if task_name in self.tasks:
                raise ConfigError(f"task {task_name!r} is already registered in app {self.name!r}")
            task = Task(self, f, task_name, queue, idempotency_key)
            self.tasks[task_name] = task
            return task

        return register(fn) if fn is not None else register

    @property
    def queue_names(self) -> list[str]:
        return sorted({t.queue for t in self.tasks.values()})

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
        self.backend.create_queue(dlq, QueueSpec(retention_seconds=MAX_RETENTION_SECONDS))
        return self.backend.create_queue(
            name,
            QueueSpec(
                visibility_timeout=self.settings.visibility_timeout,
                max_message_size=self.settings.max_batch_bytes,
                redrive=RedrivePolicy(dlq, self.settings.max_receive_count),
            ),
        )

    def dead_letter_queue_name(self, name: str) -> str:
        return check_queue_name(f"{name}{self.settings.dlq_suffix}")

    @cached_property
    def _blob_store(self) -> Any:
        return self.backend.blob_store(self.settings.bucket)

    def _encode(self, envelope: Envelope, delay_seconds: int) -> producer.Outgoing:
        return producer.encode(
            envelope.to_json(),
            {},
            delay_seconds,
            self._blob_store,
            self.settings.offload_threshold,
            self.settings.max_batch_bytes,
        )

    @cached_property
    def handler(self) -> Any:
        from tayori.handler import Handler

        return Handler(self)

    def lambda_handler(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """AWS Lambda entry point (``module.app.lambda_handler``); the local runtime uses it too."""
        return self.handler(event, context)


def _chunks(it: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while part := list(islice(it, size)):
        yield part


def _canonical(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
