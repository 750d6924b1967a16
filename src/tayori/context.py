"""``self.request`` of a bound task: what the running delivery is, per thread.

Celery's ``Task.request`` (a ``Context``) holds the task id, the retries so far, the due
time and the delivery info; tayori fills the same names from the envelope and the SQS
record. Each thread of the handler has its own stack, so concurrent records of one
task never see each other's request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    id: str | None = None
    task: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    eta: str | None = None
    expires: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    delivery_info: dict[str, Any] = field(default_factory=dict)
    called_directly: bool = True
    is_eager: bool = False
    hostname: str | None = None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)


DIRECT = Request()


class RequestStack(threading.local):
    """The requests of one task, per thread (nested calls push and pop). A request is
    built only when the task reads ``self.request`` (most never do)."""

    def __init__(self) -> None:
        self.stack: list[list[Any]] = []  # [build, built request or None]

    def push(self, build: Callable[[], Request]) -> None:
        self.stack.append([build, None])

    def pop(self) -> None:
        self.stack.pop()

    @property
    def top(self) -> Request:
        if not self.stack:
            return DIRECT
        entry = self.stack[-1]
        if entry[1] is None:
            entry[1] = entry[0]()
        return entry[1]
