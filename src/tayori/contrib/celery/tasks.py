"""An unchanged Celery app's tasks, run by tayori's handler with Celery's own semantics.

A task runs the way Celery's worker runs it (a pushed request, ``task.run``), so
``self.request``, ``self.retry`` and ``autoretry_for`` are Celery's code. The request is
marked eager, so Celery's ``retry`` raises ``Retry`` instead of publishing: tayori
sends the retry copy itself (same task id, ``retries + 1``), and a retry past
``max_retries`` (the error Celery raises out of ``Task.retry``) goes to the DLQ.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from celery import exceptions as celery_errors
from celery._state import _task_stack
from celery.app.task import Task as CeleryTask
from celery.app.trace import task_has_custom

from tayori.errors import PermanentError, RetriesExhausted, Retry, RetryLater, UnknownTask
from tayori.timelimit import call_with_time_limit
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import describe

_RETRY_CODE = CeleryTask.retry.__code__


class CeleryTaskDef:
    """One Celery task as the handler sees a task: ``name``, ``key_for``, ``run``."""

    idempotency_key = None
    concurrency = 1  # records of one invocation run one after another

    def __init__(
        self, task: CeleryTask, time_limit: float | None = None, queue: str = "celery"
    ) -> None:
        self.task = task
        self.name: str = task.name
        self.fn = task.run  # what tayori's tooling inspects (tayori worker's checks)
        self.queue = getattr(task, "queue", None) or queue
        self.time_limit = getattr(task, "time_limit", None) or time_limit

    def __repr__(self) -> str:
        return f"<Celery task {self.name}>"

    def key_for(self, envelope: Envelope) -> str | None:
        """Celery's task id: kept across Celery's retries and tayori's redrive."""
        return envelope.key

    def run(self, envelope: Envelope) -> Any:
        limit = _hard_limit(envelope) or self.time_limit
        if limit:
            return call_with_time_limit(lambda: self._run(envelope), limit, self.name)
        return self._run(envelope)

    def _run(self, envelope: Envelope) -> Any:
        task = self.task
        args, kwargs = list(envelope.args or ()), dict(envelope.kwargs or {})
        delivery = envelope.delivery or {}
        message = (envelope.extra or {}).get("message") or {}
        headers = message.get("headers") or {}
        properties = message.get("properties") or {}
        request = {
            "id": envelope.key,
            "task": self.name,
            "args": args,
            "kwargs": kwargs,
            "retries": envelope.retries,
            "eta": envelope.eta,
            "expires": envelope.expires,
            "is_eager": True,  # retry() raises Retry; tayori sends the copy
            "called_directly": False,
            "delivery_info": {
                **(properties.get("delivery_info") or {}),
                **(delivery.get("delivery_info") or {}),
            },
            "headers": headers,
            "root_id": headers.get("root_id"),
            "parent_id": headers.get("parent_id"),
            "group": headers.get("group"),
            "correlation_id": properties.get("correlation_id"),
            "reply_to": properties.get("reply_to"),
            "hostname": "tayori",
        }
        fun = task if task_has_custom(task, "__call__") else task.run
        _task_stack.push(task)
        task.push_request(**request)
        try:
            return fun(*args, **kwargs)
        except celery_errors.Retry as signal:
            sig = signal.sig
            raise Retry(
                signal.when if signal.when is not None else 0,
                signal.exc,
                args=None if sig is None else tuple(sig.args),
                kwargs=None if sig is None else dict(sig.kwargs),
            ) from None
        except celery_errors.Ignore:
            return None  # Celery: the task asked not to be acknowledged as anything
        except celery_errors.Reject as rejected:
            if rejected.requeue:
                raise RetryLater(1, f"rejected with requeue: {rejected.reason}") from None
            raise PermanentError(f"rejected: {rejected.reason}") from None
        except Exception as exc:
            if _raised_by_retry(exc):
                raise RetriesExhausted(
                    f"gave up after {envelope.retries} retries: {type(exc).__name__}: "
                    f"{describe(exc)}"
                ) from exc
            raise
        finally:
            task.pop_request()
            _task_stack.pop()


class CeleryRegistry:
    """The Celery app's task registry, looked up by name (Celery finalizes on first use)."""

    def __init__(self, app: Celery, name: str | None = None) -> None:
        self.app = app
        self.name = name or app.main or "celery"
        self._defs: dict[str, CeleryTaskDef] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> CeleryTaskDef:
        found = self._defs.get(name)
        if found is not None:
            return found
        task = self.app.tasks.get(name)
        if task is None:
            known = sorted(n for n in self.app.tasks if not n.startswith("celery."))
            more = f" and {len(known) - 10} more" if len(known) > 10 else ""
            raise UnknownTask(
                f"unknown task {name!r} (Celery app {self.name!r} has "
                f"{', '.join(known[:10]) or 'no tasks'}{more})"
            )
        return self._wrap(task)

    def _wrap(self, task: CeleryTask) -> CeleryTaskDef:
        conf = self.app.conf
        with self._lock:
            return self._defs.setdefault(
                task.name, CeleryTaskDef(task, conf.task_time_limit, conf.task_default_queue)
            )

    @property
    def tasks(self) -> dict[str, CeleryTaskDef]:
        """The app's own tasks (Celery's built-in ``celery.*`` ones left out)."""
        return {n: self._wrap(t) for n, t in self.app.tasks.items() if not n.startswith("celery.")}

    def __iter__(self) -> Any:
        return iter(list(self._defs.values()))


def _hard_limit(envelope: Envelope) -> float | None:
    """``apply_async(time_limit=...)``: the hard limit Celery puts in the ``timelimit``
    header (the soft one cannot be enforced on a thread and is not)."""
    headers = ((envelope.extra or {}).get("message") or {}).get("headers") or {}
    limits = headers.get("timelimit")
    if isinstance(limits, list) and len(limits) == 2 and isinstance(limits[1], int | float):
        return float(limits[1]) if limits[1] > 0 else None
    return None


def _raised_by_retry(exc: BaseException) -> bool:
    """Did ``exc`` come out of Celery's ``Task.retry`` (its max_retries was exceeded)?"""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is _RETRY_CODE:
            return True
        tb = tb.tb_next
    return False
