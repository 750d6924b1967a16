"""A stop request that a signal handler may set.

Python runs a signal handler on the main thread between two bytecodes, possibly while
that thread holds the lock inside ``threading.Event.wait``. ``Event.set`` takes the same
lock, so a handler that calls it can deadlock the process for good: one Ctrl-C in about
twenty left ``tayori worker -p 2`` hung. Setting this flag is one attribute store, and
waiting polls it, so no lock is ever taken inside a handler.
"""

from __future__ import annotations

import time

POLL_S = 0.05


class StopFlag:
    """The part of ``threading.Event`` a stop needs: ``set``, ``is_set``, ``wait``."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False if ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._set:
            left = POLL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, POLL_S))
        return self._set
