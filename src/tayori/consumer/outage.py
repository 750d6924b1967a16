"""Infrastructure outages, as the operator should see them: one line when a dependency
fails, one when it is back; never one per message."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tayori.consumer.retry import RetryDecision

log = logging.getLogger("tayori.handler")


class OutageMonitor:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._delayed = 0
        self.outages = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, decision: RetryDecision) -> None:
        with self._lock:
            self._delayed += 1
            if self._since is not None:
                return
            self._since = self._clock()
            self.outages += 1
        log.error(
            "infrastructure unavailable (%s: %s); messages are kept and retried with "
            "backoff (next in ~%ss) until it recovers",
            decision.error_type,
            decision.reason,
            decision.delay_seconds,
        )

    def succeeded(self) -> None:
        if self._since is None:  # the hot path: no lock when all is well
            return
        with self._lock:
            if self._since is None:
                return
            took, delayed = self._clock() - self._since, self._delayed
            self._since, self._delayed = None, 0
        log.warning(
            "infrastructure recovered after %.0f s; %d message attempts were delayed, "
            "none dead-lettered for it",
            took,
            delayed,
        )
