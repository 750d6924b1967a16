"""The counters the dashboard shows beside the chart, as one JSON-able dict.

Queue depths (the sampler's latest sample), the mail store's per-broadcast counts, rates
derived from the sampler's history (emails sent per second, queue drain per second, over
the last ``window`` seconds) and, on the embedded backend, the counters each running
worker publishes (``runtime/counters.py``: succeeded, failed, dead-lettered, duplicates
skipped, invocations). ``/api/metrics`` serves the same dict.
"""

from __future__ import annotations

from typing import Any

from tayori.dashboard.sampler import Sample, Sampler
from tayori.runtime.counters import read_counters

WINDOW = 10.0


def counters(sampler: Sampler, directory: Any = None, window: float = WINDOW) -> dict[str, Any]:
    """Everything the counters strip shows; ``directory`` is the embedded store's, whose
    ``counters/`` folder the workers publish to (None on AWS)."""
    items = sampler.samples()
    last = items[-1] if items else None
    queues = {n: r.to_dict() for n, r in last.queues.items()} if last else {}
    mail = dict(last.mail) if last else {}
    out: dict[str, Any] = {
        "at": last.at if last else None,
        "queues": queues,
        "mail": mail,
        "rates": rates(items, window),
        "sampler": {
            "samples": len(items),
            "interval_s": sampler.interval,
            "errors": sampler.errors,
            "last_error": sampler.last_error,
        },
    }
    if directory is not None:
        out["workers"] = read_counters(directory)
    return out


def rates(items: list[Sample], window: float = WINDOW) -> dict[str, float]:
    """Per-second change over the newest ``window`` seconds of samples."""
    if len(items) < 2:
        return {"sent_per_s": 0.0, "failed_per_s": 0.0, "drain_per_s": 0.0}
    newest = items[-1]
    oldest = next((s for s in items if s.at >= newest.at - window), items[0])
    if oldest is newest:
        oldest = items[-2]
    span = max(newest.at - oldest.at, 1e-6)

    def depth(s: Sample) -> int:
        return sum(r.visible + r.in_flight + r.delayed for r in s.queues.values())

    return {
        "sent_per_s": round((newest.mail.get("sent", 0) - oldest.mail.get("sent", 0)) / span, 2),
        "failed_per_s": round(
            (newest.mail.get("failed", 0) - oldest.mail.get("failed", 0)) / span, 2
        ),
        "drain_per_s": round((depth(oldest) - depth(newest)) / span, 2),
    }
