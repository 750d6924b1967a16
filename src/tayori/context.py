"""``self.request`` of a bound task: what the running delivery is, per thread.

Celery's ``Task.request`` (a ``Context``) holds the task id, the retries so far, the due
time and the delivery info; tayori fills the same names from the envelope and the SQS
record. Each thread of the handler has its own stack, so concurrent records of one
task never see each other's request.
"""

from __future__ import annotations

import threading
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
    """The requests of one task, per thread (nested calls push and pop)."""

    def __init__(self) -> None:
        self.stack: list[Request] = []

    def push(self, request: Request) -> None:
        self.stack.append(request)

    def pop(self) -> None:
        self.stack.pop()

    @property
    def top(self) -> Request:
        return self.stack[-1] if self.stack else DIRECT
