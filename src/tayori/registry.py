"""The tasks of one application: name -> function, its queue, idempotency key and options.

Knows nothing of queues or backends; the producer (``App``/``Task``) and the consumer
(``consumer.Handler``) both read it. A task takes one payload (``send(payload)``) or
Celery's calling convention (``delay(*args, **kwargs)``); ``TaskDef.run`` calls it either
way, with Celery's retry policy (``autoretry_for``, ``self.retry``) and ``time_limit``.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from tayori.context import Request, RequestStack
from tayori.errors import (
    ConfigError,
    MalformedMessage,
    MissingIdempotencyKey,
    RetriesExhausted,
    Retry,
    TaskArgumentsError,
    UnknownTask,
)
from tayori.options import TaskOptions
from tayori.timelimit import call_with_time_limit
from tayori.wire import jsonvalue
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import describe
from tayori.wire.sqs import check_queue_name

TaskFunction = Callable[..., Any]
MAX_RECORD_CONCURRENCY = 100


class TaskDef:
    """A registered task function. Calling it runs the function here, without a queue."""

    MaxRetriesExceededError = RetriesExhausted
    # Called as (envelope, reason) once a record of this task has been dead-lettered, for
    # the task's own bookkeeping (the Mailer marks the recipient failed, so a send given
    # up after retries is listed and re-sent like a refused one). It observes: an error in
    # it is logged, and the dead letter stands.
    on_dead_letter: Callable[[Envelope, str], None] | None = None

    def __init__(
        self,
        fn: TaskFunction,
        name: str,
        queue: str,
        idempotency_key: str | None,
        options: TaskOptions | None = None,
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
        self.options = options or TaskOptions()
        self.max_retries = self.options.max_retries
        self.default_retry_delay = self.options.default_retry_delay
        self._requests = RequestStack()
        try:
            self._key_expr = _compile_key(idempotency_key) if idempotency_key else None
        except JMESPathError as exc:
            raise ConfigError(
                f"task {name!r}: invalid idempotency_key JMESPath {idempotency_key!r}: {exc}"
            ) from None
        self.fn_signature = _signature(fn, self.options.bind)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function here and now, as Celery's ``task(...)`` does."""
        return self._fn(args, kwargs)

    @property
    def request(self) -> Request:
        """The delivery this thread is running (Celery's ``self.request``)."""
        return self._requests.top

    # ------------------------------------------------------------------ consumer side

    def run(self, envelope: Envelope) -> Any:
        """What the consumer calls for one received message."""
        args = (envelope.args or ()) if envelope.is_call else (envelope.payload,)
        kwargs = (envelope.kwargs or {}) if envelope.is_call else {}
        if envelope.is_call:
            self._fits(args, kwargs)

        def request() -> Request:
            delivery = envelope.delivery or {}
            return Request(
                id=envelope.key,
                task=self.name,
                args=tuple(args),
                kwargs=dict(kwargs),
                retries=envelope.retries,
                eta=envelope.eta,
                expires=envelope.expires,
                headers=dict(envelope.headers or {}),
                delivery_info=dict(delivery.get("delivery_info") or {}),
                called_directly=False,
                hostname=delivery.get("hostname"),
            )

        def attempt() -> Any:
            self._requests.push(request)
            try:
                return self._with_retry_policy(args, kwargs)
            finally:
                self._requests.pop()

        limit = self.options.time_limit
        return attempt() if limit is None else call_with_time_limit(attempt, limit, self.name)

    def _with_retry_policy(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        opts = self.options
        try:
            return self._fn(args, kwargs)
        except (Retry, RetriesExhausted):
            raise
        except opts.dont_autoretry_for:
            raise
        except opts.autoretry_for as exc:
            retry_kwargs = dict(opts.retry_kwargs)
            if opts.retry_backoff:
                retry_kwargs["countdown"] = opts.backoff(self.request.retries)
            raise self.retry(exc=exc, **retry_kwargs) from exc

    def _fn(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.options.bind:
            return self.fn(self, *args, **kwargs)
        return self.fn(*args, **kwargs)

    def retry(
        self,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Celery's ``self.retry``: the handler re-sends this call with ``retries + 1``;
        past ``max_retries`` the message goes to the DLQ with the reason."""
        if options or not throw:
            bad = next(iter(options), "throw")
            raise ConfigError(f"{self.name}.retry: option {bad!r} is not supported by tayori")
        request = self.request
        if request.called_directly:  # not in a consumer: Celery raises the error itself
            raise exc if exc is not None else Retry(0)
        limit = self.options.max_retries if max_retries is None else max_retries
        if limit is not None and request.retries + 1 > limit:
            cause = "" if exc is None else f": {type(exc).__name__}: {describe(exc)}"
            raise RetriesExhausted(f"gave up after {request.retries} retries{cause}") from exc
        if eta is None and countdown is None:
            countdown = self.options.default_retry_delay
        raise Retry(
            eta if eta is not None else countdown,
            exc,
            args=None if args is None else tuple(args),
            kwargs=None if kwargs is None else dict(kwargs),
        )

    # ------------------------------------------------------------------ arguments and keys

    def bind_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name (defaults filled in); a call that does not
        fit the signature is a ``TaskArgumentsError``, as Celery's ``typing`` check."""
        if self.fn_signature is None:
            return {"args": list(args), "kwargs": dict(kwargs)}
        try:
            bound = self.fn_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TaskArgumentsError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()}

    def _fits(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The bound arguments of a received call; a call that cannot fit the function
        will never run, so it is a ``BadMessage`` (dead-lettered at once), not a retry."""
        try:
            return self.bind_arguments(args, kwargs)
        except TaskArgumentsError as exc:
            raise MalformedMessage(f"arguments do not fit the task: {exc}") from None

    def key_for(self, envelope: Envelope) -> str | None:
        """Business key from the arguments if the task names one, else the envelope key
        (Celery's task id). For a call the expression sees the arguments by parameter
        name; a one-argument call may also name a field inside that argument."""
        if self._key_expr is None:
            return envelope.key
        value = self._search(envelope)
        if value is None or value == "" or value == [] or value == {}:
            raise MissingIdempotencyKey(
                f"task {self.name!r}: idempotency key {self.idempotency_key!r} "
                "found nothing in the payload"
            )
        if isinstance(value, str):
            return value
        return _canonical(value) if not envelope.is_call else jsonvalue.dumps(value)

    def _search(self, envelope: Envelope) -> Any:
        assert self._key_expr is not None
        documents = [envelope.payload]
        if envelope.is_call:
            args, kwargs = envelope.args or (), envelope.kwargs or {}
            documents = [self._fits(args, kwargs)]
            if len(args) == 1 and not kwargs:
                documents.append(args[0])
        value = None
        for document in documents:
            try:
                value = self._key_expr.search(document)
            except (JMESPathError, TypeError, ValueError) as exc:
                raise MissingIdempotencyKey(
                    f"task {self.name!r}: idempotency key {self.idempotency_key!r} failed: {exc}"
                ) from None
            if value not in (None, "", [], {}):
                return value
        return value


class _Field:
    """A JMESPath expression that is one plain field name (``"id"``), read without the
    JMESPath interpreter (~4 µs a message on each side): the same result, a dict's
    value or None."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def search(self, document: Any) -> Any:
        return document.get(self.name) if isinstance(document, dict) else None


_PLAIN_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _compile_key(expression: str) -> Any:
    if _PLAIN_FIELD.fullmatch(expression):
        return _Field(expression)
    return jmespath.compile(expression)


class Registry:
    """Tasks by name. ``name`` prefixes idempotency records, so two apps never collide.

    ``loaders`` run once, before the first lookup of a name not (yet) registered: how
    ``autodiscover_tasks`` imports a Django project's tasks modules only when needed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: dict[str, TaskDef] = {}
        self.loaders: list[Callable[[], None]] = []
        self._lock = threading.RLock()  # a tasks module imported by a loader may look up

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

    def load(self) -> None:
        """Run the pending loaders (each once)."""
        with self._lock:
            while self.loaders:
                self.loaders.pop(0)()

    def get(self, name: str) -> TaskDef:
        task = self.tasks.get(name)
        if task is None and self.loaders:
            self.load()
            task = self.tasks.get(name)
        if task is None:
            raise UnknownTask(
                f"unknown task {name!r} (app {self.name!r} has "
                f"{', '.join(sorted(self.tasks)) or 'no tasks'})"
            )
        return task

    @property
    def queue_names(self) -> list[str]:
        self.load()
        return sorted({t.queue for t in self.tasks.values()})


def _signature(fn: TaskFunction, bind: bool) -> inspect.Signature | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if bind:
        params = list(sig.parameters.values())
        if not params:
            raise ConfigError(f"task {getattr(fn, '__name__', fn)!r}: bind=True needs a self")
        sig = sig.replace(parameters=params[1:])
    return sig


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
