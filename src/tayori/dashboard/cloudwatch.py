"""On AWS, the chart can start with the last hours of CloudWatch's own SQS metrics,
so the mountain drawn before the dashboard started is visible too.

Optional by design: CloudWatch may be unreachable, denied by IAM, or (moto) empty; any
failure leaves the history empty and the live sampler still draws the chart. Results
are cached for a minute (SQS publishes these metrics once a minute at most).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("tayori.dashboard")

NAMESPACE = "AWS/SQS"
METRICS = {
    "visible": "ApproximateNumberOfMessagesVisible",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}
PERIOD = 60
CACHE_SECONDS = 60.0


class History:
    """CloudWatch history of the source queues (and their DLQs) named by ``pairs()``."""

    def __init__(self, client: Any, pairs: Any, hours: float = 3.0) -> None:
        self.client, self.pairs, self.hours = client, pairs, hours
        self._cached: dict[str, Any] = {"t": [], "queues": {}}
        self._at = 0.0
        self._lock = threading.Lock()
        self.error: str | None = None

    def get(self) -> dict[str, Any]:
        with self._lock:
            if time.monotonic() - self._at > CACHE_SECONDS:
                self._at = time.monotonic()
                try:
                    self._cached = self._fetch()
                    self.error = None
                except Exception as exc:  # optional: never break the page for history
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.info("no CloudWatch history: %s", self.error)
            return self._cached

    def _fetch(self) -> dict[str, Any]:
        pairs: dict[str, str | None] = self.pairs()
        queries, where = [], {}
        for n, (name, dlq) in enumerate(sorted(pairs.items())):
            wanted = [(col, metric, name) for col, metric in METRICS.items()]
            if dlq:
                wanted.append(("dlq", METRICS["visible"], dlq))
            for m, (col, metric, queue) in enumerate(wanted):
                qid = f"q{n}m{m}"
                where[qid] = (name, col)
                queries.append(
                    {
                        "Id": qid,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": NAMESPACE,
                                "MetricName": metric,
                                "Dimensions": [{"Name": "QueueName", "Value": queue}],
                            },
                            "Period": PERIOD,
                            "Stat": "Maximum",
                        },
                        "ReturnData": True,
                    }
                )
        if not queries:
            return {"t": [], "queues": {}}
        end = datetime.now(UTC)
        points: dict[tuple[str, str], dict[float, float]] = {}
        for i in range(0, len(queries), 500):  # GetMetricData takes 500 queries a call
            kwargs: dict[str, Any] = {
                "MetricDataQueries": queries[i : i + 500],
                "StartTime": end - timedelta(hours=self.hours),
                "EndTime": end,
            }
            while True:
                resp = self.client.get_metric_data(**kwargs)
                for result in resp.get("MetricDataResults", []):
                    into = points.setdefault(where[result["Id"]], {})
                    for ts, value in zip(result["Timestamps"], result["Values"], strict=False):
                        into[ts.timestamp()] = value
                token = resp.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return _align(points, sorted(pairs))


def _align(points: dict[tuple[str, str], dict[float, float]], names: list[str]) -> dict[str, Any]:
    stamps = sorted({t for series in points.values() for t in series})
    queues = {}
    for name in names:
        cols = {}
        for col in (*METRICS, "dlq"):
            series = points.get((name, col), {})
            cols[col] = [series.get(t) for t in stamps]
        if any(v is not None for col in cols.values() for v in col):
            queues[name] = cols
    return {"t": stamps, "queues": queues}
