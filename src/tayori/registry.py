"""The tasks of one application: name -> function, its queue and its idempotency key.

Knows nothing of queues or backends; the producer (``App``/``Task``) and the consumer
(``consumer.Handler``) both read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from tayori.errors import ConfigError, MissingIdempotencyKey, UnknownTask
from tayori.wire.envelope import Envelope
from tayori.wire.sqs import check_queue_name

TaskFunction = Callable[..., Any]
MAX_RECORD_CONCURRENCY = 100


class TaskDef:
    """A registered task function. Calling it runs the function here, without a queue."""

    def __init__(
        self,
        fn: TaskFunction,
        name: str,
        queue: str,
        idempotency_key: str | None,
        *,
        concurrency: int = 1,
    ) -> None:
        if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_RECORD_CONCURRENCY:
            raise ConfigError(
                f"task {name!r}: concurrency must be 1-{MAX_RECORD_CONCURRENCY}, "
                f"got {concurrency!r}"
            )
        self.concurrency = concurrency  # records of one invocation that may run at once
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

    def run(self, envelope: Envelope) -> Any:
        """What the consumer calls for one received message."""
        return self.fn(envelope.payload)

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


class Registry:
    """Tasks by name. ``name`` prefixes idempotency records, so two apps never collide."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: dict[str, TaskDef] = {}

    def __repr__(self) -> str:
        return f"<Registry {self.name} tasks={sorted(self.tasks)}>"

    def __iter__(self) -> Iterator[TaskDef]:
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)

    def add(self, task: TaskDef) -> TaskDef:
        if task.name in self.tasks:
            raise ConfigError(f"task {task.name!r} is already registered in app {self.name!r}")
        self.tasks[task.name] = task
        return task

    def get(self, name: str) -> TaskDef:
        task = self.tasks.get(name)
        if task is None:
            raise UnknownTask(
                f"unknown task {name!r} (app {self.name!r} has "
                f"{', '.join(sorted(self.tasks)) or 'no tasks'})"
            )
        return task

    @property
    def queue_names(self) -> list[str]:
        return sorted({t.queue for t in self.tasks.values()})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
