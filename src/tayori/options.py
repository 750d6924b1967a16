"""Celery's task and call options: the ones tayori honours, and a clear refusal for the rest.

Nothing Celery accepts is silently ignored: an option tayori does not honour is a
``ConfigError`` naming it (an ``eta`` or ``priority`` dropped on the floor sends an
email scheduled for tomorrow right now). Defaults are Celery's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tayori.errors import ConfigError

# Celery's defaults (celery.app.task.Task)
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY = 180
DEFAULT_BACKOFF_MAX = 600

# accepted because tayori already behaves that way (value: the accepted values)
_TASK_TRIVIAL: dict[str, tuple[Any, ...]] = {
    "acks_late": (True,),  # tayori deletes a message only after its task ran
    "reject_on_worker_lost": (True,),  # a crashed invocation's batch is redelivered
    "serializer": ("json",),
    "typing": (True,),  # arguments are checked against the signature at delay()
    "ignore_result": (True,),  # there is no result backend
    "throws": None,  # expected errors: only changes Celery's logging
    "shared": (True, False),
}
_TASK_HINTS = {
    "acks_late": "tayori always acknowledges after the task ran (acks_late=True)",
    "ignore_result": "tayori has no result backend: store results yourself",
    "soft_time_limit": "use time_limit",
    "rate_limit": "cap the queue's concurrency, or use tayori's mail rate limiter",
    "priority": "SQS has no priorities: send urgent work to its own queue",
    "base": "custom Task base classes are not supported",
    "serializer": "tayori reads and writes JSON only",
}

_CALL_HONOURED = {"countdown", "eta", "expires", "task_id", "queue", "headers"}
_CALL_TRIVIAL: dict[str, tuple[Any, ...]] = {
    "serializer": ("json",),
    "retry": (True,),  # the producer always retries a failed send
    "ignore_result": (True,),
}
_CALL_HINTS = {
    "priority": _TASK_HINTS["priority"],
    "link": "callbacks (canvas) are not supported: call the next task from this one",
    "link_error": "error callbacks are not supported: handle the DLQ instead",
    "routing_key": "use queue=",
    "exchange": "use queue=",
    "retry": "the producer always retries a failed send",
    "time_limit": "set time_limit on the task",
    "soft_time_limit": "set time_limit on the task",
}


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """What a task declares, in Celery's words (``@app.task(bind=True, max_retries=5)``)."""

    bind: bool = False
    autoretry_for: tuple[type[BaseException], ...] = ()
    dont_autoretry_for: tuple[type[BaseException], ...] = ()
    retry_kwargs: dict[str, Any] = field(default_factory=dict)
    max_retries: int | None = DEFAULT_MAX_RETRIES
    default_retry_delay: float = DEFAULT_RETRY_DELAY
    retry_backoff: bool | float = False
    retry_backoff_max: int = DEFAULT_BACKOFF_MAX
    retry_jitter: bool = True
    time_limit: float | None = None
    expires: float | None = None  # default expiry of a call, seconds after sending

    @classmethod
    def from_celery(cls, task: str, options: dict[str, Any]) -> TaskOptions:
        """Validate ``@app.task(**options)``; refuse what tayori would not honour."""
        known: dict[str, Any] = {}
        fields = set(cls.__dataclass_fields__)
        for name, value in options.items():
            if name in fields:
                known[name] = value
                continue
            allowed = _TASK_TRIVIAL.get(name, ())
            if name in _TASK_TRIVIAL and (allowed is None or value in allowed):
                continue
            raise ConfigError(_refusal(f"task {task!r}", name, value, _TASK_HINTS))
        for name in ("autoretry_for", "dont_autoretry_for"):
            known[name] = _exception_types(task, name, known.get(name, ()))
        opts = cls(**known)
        _check_numbers(task, opts)
        unknown = set(opts.retry_kwargs) - {"countdown", "max_retries"}
        if unknown:
            raise ConfigError(
                f"task {task!r}: retry_kwargs {', '.join(sorted(unknown))} not supported "
                "(countdown and max_retries are)"
            )
        return opts

    def backoff(self, retries: int, rng: random.Random | None = None) -> int:
        """Celery's ``retry_backoff`` countdown: factor * 2**retries, capped, full jitter."""
        factor = int(max(1.0, float(self.retry_backoff)))
        countdown = min(self.retry_backoff_max, factor * (2**retries))
        if self.retry_jitter:
            countdown = (rng or random).randrange(countdown + 1)
        return max(0, countdown)


def check_call_options(task: str, options: dict[str, Any]) -> None:
    """``apply_async(**options)`` beyond the honoured ones: accepted only when tayori
    already behaves that way, else a ``ConfigError`` naming the option."""
    for name, value in options.items():
        if name in _CALL_HONOURED:
            continue
        allowed = _CALL_TRIVIAL.get(name, ())
        if value in allowed:
            continue
        raise ConfigError(_refusal(f"{task}.apply_async", name, value, _CALL_HINTS))


def canvas_refused(task: str, what: str) -> ConfigError:
    return ConfigError(
        f"{task}.{what}: Celery canvas (signatures, chains, groups, chords) is not supported "
        "by tayori; call .delay() / .apply_async() and chain from inside the task"
    )


def _refusal(where: str, name: str, value: Any, hints: dict[str, str]) -> str:
    hint = hints.get(name)
    return f"{where}: option {name}={value!r:.60} is not supported by tayori" + (
        f" ({hint})" if hint else ""
    )


def _exception_types(task: str, name: str, value: Any) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, list | tuple) else (value,)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise ConfigError(f"task {task!r}: {name} must hold exception classes, got {t!r}")
    return tuple(types)


def _check_numbers(task: str, opts: TaskOptions) -> None:
    if opts.max_retries is not None and (
        not isinstance(opts.max_retries, int) or opts.max_retries < 0
    ):
        raise ConfigError(f"task {task!r}: max_retries must be an integer >= 0 or None")
    for name in ("default_retry_delay", "retry_backoff_max"):
        if getattr(opts, name) < 0:
            raise ConfigError(f"task {task!r}: {name} must be >= 0")
    for name in ("time_limit", "expires"):
        value = getattr(opts, name)
        if value is not None and not value > 0:
            raise ConfigError(f"task {task!r}: {name} must be a number of seconds > 0")
