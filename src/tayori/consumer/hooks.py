"""What the handler tells the outside about each record: counters now, metrics later.

Hooks observe outcomes; they never change them. A hook that raises is logged and
ignored, so a broken metrics sink cannot fail a record.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("tayori.handler")


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """One received record, as the hooks see it."""

    message_id: str
    queue: str
    receive_count: int
    task: str | None = None


class Hook(Protocol):
    def succeeded(self, record: RecordInfo) -> None: ...

    def failed(self, record: RecordInfo, error_type: str, reason: str) -> None: ...

    def dead_lettered(self, record: RecordInfo, error_type: str, reason: str) -> None: ...

    def duplicate(self, record: RecordInfo) -> None: ...

    # optional: ``ran(record, seconds)``, ``claim_check(record)``, ``invocation_done(context)``


@dataclass
class Counters:
    """Per-process outcome counts (thread-safe), read by the demo and the worker."""

    succeeded: int = 0
    failed: int = 0
    dead_lettered: int = 0
    duplicates_skipped: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "succeeded": self.succeeded,
                "failed": self.failed,
                "dead_lettered": self.dead_lettered,
                "duplicates_skipped": self.duplicates_skipped,
                "dead_letter_reasons": dict(self.dead_letter_reasons),
            }

    def dead_letter(self, error_type: str) -> None:
        with self._lock:
            self.dead_lettered += 1
            self.dead_letter_reasons[error_type] = self.dead_letter_reasons.get(error_type, 0) + 1


class CounterHook:
    """Feeds ``Counters`` from the handler's outcomes."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def succeeded(self, record: RecordInfo) -> None:
        self.counters.add("succeeded")

    def failed(self, record: RecordInfo, error_type: str, reason: str) -> None:
        self.counters.add("failed")

    def dead_lettered(self, record: RecordInfo, error_type: str, reason: str) -> None:
        self.counters.dead_letter(error_type)

    def duplicate(self, record: RecordInfo) -> None:
        self.counters.add("duplicates_skipped")


class Hooks:
    """The hooks of one handler, called in order; failures are logged, never raised."""

    def __init__(self, hooks: list[Hook] | None = None) -> None:
        self._hooks: list[Hook] = list(hooks or [])

    def add(self, hook: Hook) -> None:
        self._hooks.append(hook)

    def emit(self, event: str, *args: Any) -> None:
        for hook in self._hooks:
            method = getattr(hook, event, None)  # hooks implement the events they want
            if method is None:
                continue
            try:
                method(*args)
            except Exception as exc:  # an observer must not change the outcome
                log.warning("hook %s.%s failed: %s", type(hook).__name__, event, exc)
