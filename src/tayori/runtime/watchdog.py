"""The function timeout, enforced from outside the invocation as Lambda does.

Each invocation runs on its poller's own thread (handing every batch to a pool thread
and back cost two thread switches per batch and most of the runtime's contention), so
one watchdog thread per runtime watches the deadlines. Every invocation has the same
timeout, so deadlines come in start order and a FIFO is enough: the watchdog sleeps
until the oldest running invocation's deadline, and calls ``on_timeout`` for each
invocation still running when its deadline passes. That invocation's late result is
discarded (``finished`` returns False).
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class CallState(enum.Enum):
    RUNNING = enum.auto()
    FINISHED = enum.auto()
    TIMED_OUT = enum.auto()


@dataclass(slots=True)
class Call:
    owner: Any  # what on_timeout needs to know (the poller group)
    records: int
    deadline: float
    state: CallState = CallState.RUNNING


class Watchdog:
    def __init__(self, timeout: float, on_timeout: Callable[[Any, int], None]) -> None:
        self.timeout = timeout
        self._on_timeout = on_timeout
        self._calls: deque[Call] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._closed.clear()
        self._thread = threading.Thread(target=self._run, name="tayori-watchdog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def watch(self, owner: Any, records: int) -> Call:
        with self._lock:
            call = Call(owner, records, time.monotonic() + self.timeout)
            self._calls.append(call)
        return call

    def finished(self, call: Call) -> bool:
        """Mark ``call`` done; False if the watchdog already declared it timed out."""
        with self._lock:
            if call.state is CallState.TIMED_OUT:
                return False
            call.state = CallState.FINISHED
            return True

    def _run(self) -> None:
        while not self._closed.is_set():
            expired: list[Call] = []
            now = time.monotonic()
            with self._lock:
                while self._calls and (
                    self._calls[0].state is CallState.FINISHED or self._calls[0].deadline <= now
                ):
                    call = self._calls.popleft()
                    if call.state is CallState.RUNNING:
                        call.state = CallState.TIMED_OUT
                        expired.append(call)
                wait = self._calls[0].deadline - now if self._calls else self.timeout
            for call in expired:
                self._on_timeout(call.owner, call.records)
            self._wake.wait(max(0.01, wait))
            self._wake.clear()
