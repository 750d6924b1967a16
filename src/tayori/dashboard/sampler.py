"""The queue-depth history behind the chart: a background thread samples every queue
(visible, in flight, delayed, DLQ depth) and the mail counts into a bounded ring buffer.

The dashboard keeps what it saw while it ran (``capacity`` samples, one hour at the
default 1 s interval); on AWS the chart can also start with CloudWatch's history
(``cloudwatch.py``). A sample that fails (a throttled call, a locked file) is skipped,
never fatal: the chart shows a gap and the thread goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tayori.dashboard.sources import QueueRow, Sources

log = logging.getLogger("tayori.dashboard")

DEFAULT_INTERVAL = 1.0
DEFAULT_CAPACITY = 3600


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    queues: dict[str, QueueRow]
    mail: dict[str, int] = field(default_factory=dict)  # sent / failed / suppressed / pending


class Sampler:
    """Samples ``sources`` every ``interval`` seconds into a ring of ``capacity`` samples."""

    def __init__(
        self,
        sources: Sources,
        interval: float = DEFAULT_INTERVAL,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        if interval <= 0 or capacity < 2:
            raise ValueError("interval must be > 0 and capacity >= 2")
        self.sources, self.interval = sources, interval
        self._ring: deque[Sample] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tayori-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sample_once()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def sample_once(self) -> Sample | None:
        try:
            rows = {r.name: r for r in self.sources.rows()}
            mail = mail_totals(self.sources.broadcasts())
        except Exception as exc:  # a gap in the chart, not a dead sampler
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("dashboard sample failed: %s", self.last_error)
            return None
        with self._lock:
            # ms as sent to the page (so `since` matches) and strictly increasing
            at = round(time.time(), 3)
            if self._ring and at <= self._ring[-1].at:
                at = round(self._ring[-1].at + 0.001, 3)
            sample = Sample(at, rows, mail)
            self._ring.append(sample)
        return sample

    def samples(self, since: float | None = None) -> list[Sample]:
        with self._lock:
            items = list(self._ring)
        if since is not None:
            items = [s for s in items if s.at > since]
        return items

    def latest(self) -> Sample | None:
        with self._lock:
            return self._ring[-1] if self._ring else None

    def series(self, since: float | None = None) -> dict[str, Any]:
        """uPlot-shaped columns per queue: ``{"t": [...], "queues": {name: {...}}}``."""
        items = self.samples(since)
        names = sorted({n for s in items for n in s.queues})
        out: dict[str, Any] = {"t": [s.at for s in items], "queues": {}}
        for name in names:
            cols: dict[str, list[int | None]] = {
                k: [] for k in ("visible", "in_flight", "delayed", "total", "dlq")
            }
            for s in items:
                row = s.queues.get(name)
                if row is None:
                    for col in cols.values():
                        col.append(None)
                    continue
                cols["visible"].append(row.visible)
                cols["in_flight"].append(row.in_flight)
                cols["delayed"].append(row.delayed)
                cols["total"].append(row.visible + row.in_flight + row.delayed)
                cols["dlq"].append(row.dlq_depth)
            dlq = next((s.queues[name].dlq for s in reversed(items) if name in s.queues), None)
            out["queues"][name] = {"dlq_name": dlq, **cols}
        out["mail"] = {
            k: [s.mail.get(k, 0) for s in items] for k in ("sent", "failed", "suppressed")
        }
        return out


def mail_totals(broadcasts: list[Any]) -> dict[str, int]:
    """Sent / failed / suppressed / pending summed over the listed broadcasts."""
    totals = {"sent": 0, "failed": 0, "suppressed": 0, "pending": 0}
    for b in broadcasts:
        totals["sent"] += b.sent
        totals["failed"] += b.failed
        totals["suppressed"] += b.suppressed
        totals["pending"] += b.pending or 0
    return totals
