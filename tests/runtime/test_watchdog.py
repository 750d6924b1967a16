"""The function timeout, enforced from outside: the watchdog's verdicts (logic only)."""

from __future__ import annotations

import threading
import time

from tayori.runtime.watchdog import Watchdog


def test_a_call_past_its_deadline_is_timed_out_once_and_its_result_discarded() -> None:
    verdicts: list[tuple[str, int]] = []
    fired = threading.Event()

    def on_timeout(owner: str, records: int) -> None:
        verdicts.append((owner, records))
        fired.set()

    dog = Watchdog(0.2, on_timeout)
    dog.start()
    try:
        slow = dog.watch("group-a", 10)
        quick = dog.watch("group-b", 3)
        assert dog.finished(quick)  # finished in time: its result counts
        assert fired.wait(2)
        assert not dog.finished(slow)  # too late: discarded
        time.sleep(0.3)
        assert verdicts == [("group-a", 10)]
    finally:
        dog.close()


def test_calls_that_finish_in_time_are_never_timed_out() -> None:
    verdicts: list[object] = []
    dog = Watchdog(0.1, lambda owner, records: verdicts.append(owner))
    dog.start()
    try:
        for n in range(50):
            assert dog.finished(dog.watch(n, 1))
        time.sleep(0.3)
        assert verdicts == []
    finally:
        dog.close()


def test_close_stops_the_thread() -> None:
    dog = Watchdog(30, lambda owner, records: None)
    dog.start()
    dog.watch("x", 1)
    started = time.monotonic()
    dog.close()
    assert time.monotonic() - started < 2
    assert dog._thread is not None and not dog._thread.is_alive()
