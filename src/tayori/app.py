"""App and Task: the producer API, composing registry + codec + backend + handler.

``App`` is the top of the import graph: nothing below imports it. It wires the pieces
and keeps the public API; each piece can be built and tested on its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any

from tayori import logs
from tayori.backends import open_backend
from tayori.backends.base import MAX_RETENTION_SECONDS, Backend, Queue, QueueSpec, RedrivePolicy
from tayori.consumer import schedule
from tayori.consumer.handler import Handler
from tayori.consumer.retry import RetryPolicy
from tayori.errors import ConfigError, InvalidParameterValue, QueueDoesNotExist, SendFailed
from tayori.options import TaskOptions, canvas_refused, check_call_options
from tayori.registry import Registry, TaskDef, TaskFunction
from tayori.settings import Settings
from tayori.wire import jsonvalue
from tayori.wire.claimcheck import ClaimCheck
from tayori.wire.codec import TayoriCodec
from tayori.wire.envelope import Envelope
from tayori.wire.ids import uuid4s
from tayori.wire.sqs import MAX_DELAY_SECONDS, check_queue_name

if TYPE_CHECKING:  # imported where used: a deployed function's cold start needs neither
    from tayori.producer import Producer
    from tayori.runtime.local import LocalRuntime, RuntimeConfig, Source


class Task(TaskDef):
    """A registered task with its producer API: ``send``/``send_many`` (one payload) and
    Celery's ``delay``/``apply_async`` (any signature)."""

    def __init__(
        self,
        app: App,
        fn: TaskFunction,
        name: str,
        queue: str,
        idempotency_key: str | None,
        options: TaskOptions | None = None,
        *,
        concurrency: int = 1,
    ) -> None:
        super().__init__(fn, name, queue, idempotency_key, options, concurrency=concurrency)
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
        start = 0
        for part in _chunks(iter(payloads), chunk):
            keys = uuid4s(len(part))  # one read of randomness per chunk, not per message
            envelopes = [self.envelope(p, key) for p, key in zip(part, keys, strict=True)]
            try:
                ids.extend(self.send_envelopes(envelopes, delay_seconds))
            except SendFailed as exc:  # indexes and ids of the whole call, not the chunk's
                failed = {start + i: error for i, error in exc.failed.items()}
                raise SendFailed(str(exc), sent=ids + exc.sent, failed=failed) from None
            start += len(part)
        return ids

    def send_envelopes(self, envelopes: Sequence[Envelope], delay_seconds: int = 0) -> list[str]:
        """Send prepared envelopes (keep them to retry a producer crash with the same keys)."""
        return self.app.producer.send_many(self.queue, envelopes, delay_seconds)

    # ------------------------------------------------------------------ Celery's calls

    def delay(self, *args: Any, **kwargs: Any) -> Sent:
        """Celery's ``task.delay(*args, **kwargs)``: the task runs ``fn(*args, **kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        countdown: float | None = None,
        eta: Any = None,
        expires: Any = None,
        task_id: str | None = None,
        queue: str | None = None,
        headers: dict[str, Any] | None = None,
        **options: Any,
    ) -> Sent:
        """Celery's ``apply_async``. Delays beyond SQS's 900 s hop (the message carries its
        due time); an option tayori does not honour is a ``ConfigError`` naming it."""
        check_call_options(self.name, options)
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        self.bind_arguments(args, kwargs)
        now = datetime.fromtimestamp(self.app.clock(), UTC)
        due = schedule.due_time(now, countdown, eta)
        envelope = Envelope.call(
            self.name,
            args,
            kwargs,
            task_id,
            eta=due,
            expires=schedule.expiry_time(now, expires, self.options.expires),
            headers=headers,
        )
        self.key_for(envelope)
        remaining = 0.0 if due is None else (due - now).total_seconds()
        delay = schedule.hop_delay(remaining, self.app.hop_seconds)
        target = check_queue_name(queue) if queue is not None else self.queue
        try:
            message_id = self.app.producer.send(target, envelope, delay)
        except InvalidParameterValue as exc:
            raise self._argument_error(args, kwargs) or exc from None
        return Sent(message_id, envelope.key)

    def _argument_error(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> InvalidParameterValue | None:
        """The one-line error naming the argument JSON cannot carry (None: not that)."""
        for name, value in self.bind_arguments(args, kwargs).items():
            try:
                jsonvalue.dumps(value, self.app.json_encoder)
            except (TypeError, ValueError) as exc:
                return InvalidParameterValue(
                    f"argument {name!r} of task {self.name!r} is not JSON-serialisable: {exc}"
                )
        return None

    def s(self, *args: Any, **kwargs: Any) -> Any:
        raise canvas_refused(self.name, "s")

    def si(self, *args: Any, **kwargs: Any) -> Any:
        raise canvas_refused(self.name, "si")

    def signature(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise canvas_refused(self.name, "signature")

    def map(self, *args: Any, **kwargs: Any) -> Any:
        raise canvas_refused(self.name, "map")

    def starmap(self, *args: Any, **kwargs: Any) -> Any:
        raise canvas_refused(self.name, "starmap")

    def chunks(self, *args: Any, **kwargs: Any) -> Any:
        raise canvas_refused(self.name, "chunks")


class Sent(str):
    """What ``delay()`` returns: the SQS message id (a ``str``), with Celery's ``.id``
    (the task id, which is also the default idempotency key). There is no result
    backend: ``get()`` refuses with the reason."""

    id: str

    def __new__(cls, message_id: str, task_id: str | None) -> Sent:
        sent = super().__new__(cls, message_id)
        sent.id = task_id or ""
        return sent

    @property
    def message_id(self) -> str:
        return str(self)

    @property
    def task_id(self) -> str:
        return self.id

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(
            "tayori has no result backend (AsyncResult.get): store the result where the "
            "caller reads it (a database row), keyed by this task id"
        )

    wait = get


class App:
    """One application: its tasks, its backend and its Lambda entry point."""

    # the clock of due times and the longest SQS delay of one hop; tests replace them
    clock: Callable[[], float] = staticmethod(time.time)
    hop_seconds: int = MAX_DELAY_SECONDS

    def __init__(
        self,
        name: str,
        *,
        settings: Settings | None = None,
        backend: Backend | None = None,
        json_encoder: type[json.JSONEncoder] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings if settings is not None else Settings()
        logs.configure(self.settings.log_level)
        self.registry = Registry(name)
        self.json_encoder = json_encoder  # call arguments; None: kombu's tagged JSON
        self._backend = backend
        self._queues: dict[str, Queue] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<App {self.name} tasks={sorted(self.registry.tasks)}>"

    @property
    def tasks(self) -> dict[str, TaskDef]:
        self.registry.load()
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
        **options: Any,
    ) -> Any:
        """Register a task: ``@app.task`` or ``@app.task(queue=..., idempotency_key=...)``,
        with Celery's options (``bind``, ``autoretry_for``, ``max_retries``,
        ``retry_backoff``, ``time_limit``, ...); others are a ``ConfigError``.

        ``concurrency``: records of one invocation that may run at once (I/O-bound tasks:
        Lambda bills the invocation's duration)."""

        def register(f: TaskFunction) -> Task:
            task_name = name or f.__name__
            opts = TaskOptions.from_celery(task_name, options)
            task = Task(self, f, task_name, queue, idempotency_key, opts, concurrency=concurrency)
            self.registry.add(task)
            return task

        return register(fn) if fn is not None else register

    def autodiscover_tasks(
        self,
        packages: Iterable[str] | Callable[[], Iterable[str]] | None = None,
        related_name: str = "tasks",
    ) -> None:
        """Celery's ``autodiscover_tasks``: import ``<package>.tasks`` of each package
        (default: Django's ``INSTALLED_APPS``) when the first task is looked up, then
        bind every ``shared_task`` to this app. Lazy, so that it can be called before
        ``django.setup()``, as in a Celery project's ``celery.py``."""
        from tayori.shared import discover, watch

        self.registry.loaders.append(lambda: discover(self, packages, related_name))
        watch(self)

    def bind_shared_tasks(self) -> None:
        """Register every ``@tayori.shared_task`` defined so far in this app."""
        from tayori.shared import bind_shared

        bind_shared(self)

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
        return TayoriCodec(self.claim_check, self.json_encoder)

    @cached_property
    def producer(self) -> Producer:
        from tayori.producer import Producer

        # before the first send: a missing bucket or table is one line naming it and
        # `tayori setup`, not a BlobError on the first big message (embedded: no-op)
        check = getattr(self.backend, "check_resources", None)
        if check is not None:
            check()
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
        hooks: list[Any] = []
        if s.metrics:  # CloudWatch EMF on stdout: on in the deployed function (template)
            from tayori.consumer.metrics import MetricsHook

            hooks.append(MetricsHook(service=self.name))
        handler = Handler(
            self.registry, self.codec, self.backend, s, self.claim_check, policy=policy, hooks=hooks
        )
        handler.schedule.clock = lambda: self.clock()  # celery (issue 11): due times
        handler.schedule.hop_seconds = self.hop_seconds
        return handler

    def set_retry_policy(self, queue: str, policy: RetryPolicy) -> None:
        """Backoff for the tasks of one queue (a task's own ``retry_policy`` wins)."""
        self.handler.queue_policies[check_queue_name(queue)] = policy

    def lambda_handler(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """AWS Lambda entry point; the local runtime uses it too."""
        return self.handler(event, context)

    def source(self, queues: Sequence[str] | None = None, handler: Any = None) -> Source:
        """What a local runtime polls (these queues, default every task's) and invokes."""
        from tayori.runtime.local import Source

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
        from tayori.runtime.local import LocalRuntime, RuntimeConfig

        config = config or RuntimeConfig()
        return LocalRuntime(self.source(config.queues, handler), config)


def _chunks(it: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while part := list(islice(it, size)):
        yield part
