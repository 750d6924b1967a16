"""CloudWatch metrics on Lambda: Powertools' embedded metric format (EMF), per task.

Per invocation and task, one EMF document with the dimensions ``function`` and
``task``: succeeded, retried (failed and coming back), dead_lettered,
duplicates_skipped, claim_check_reads, and the task's duration (milliseconds); plus one
``cold_start`` per execution environment. EMF documents are lines on stdout, which the
Lambda runtime ships to CloudWatch Logs and CloudWatch turns into metrics: no API call,
no extra latency.

On by default in the deployed function (``tayori template`` sets ``TAYORI_METRICS=true``);
off locally because the local runtime's stdout is the user's (``--json`` output), and
the same counts are in ``tayori status`` and the dashboard there.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from tayori.consumer.hooks import RecordInfo

NAMESPACE = "tayori"
COUNTS = ("succeeded", "retried", "dead_lettered", "duplicates_skipped", "claim_check_reads")


class MetricsHook:
    """A handler hook that emits EMF at the end of each invocation (thread-safe)."""

    def __init__(self, service: str, namespace: str = NAMESPACE) -> None:
        self.service, self.namespace = service, namespace
        self._lock = threading.Lock()
        self._counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._durations: defaultdict[str, list[float]] = defaultdict(list)
        self._cold = True

    def _add(self, record: RecordInfo, name: str) -> None:
        with self._lock:
            self._counts[record.task or "unknown"][name] += 1

    def succeeded(self, record: RecordInfo) -> None:
        self._add(record, "succeeded")

    def failed(self, record: RecordInfo, error_type: str, reason: str) -> None:
        self._add(record, "retried")

    def dead_lettered(self, record: RecordInfo, error_type: str, reason: str) -> None:
        self._add(record, "dead_lettered")

    def duplicate(self, record: RecordInfo) -> None:
        self._add(record, "duplicates_skipped")

    def claim_check(self, record: RecordInfo) -> None:
        self._add(record, "claim_check_reads")

    def ran(self, record: RecordInfo, seconds: float) -> None:
        with self._lock:
            self._durations[record.task or "unknown"].append(seconds * 1000)

    def invocation_done(self, context: Any) -> None:
        """Flush one EMF document per task seen in this invocation (stdout)."""
        function = str(getattr(context, "function_name", None) or self.service)
        with self._lock:
            counts, self._counts = self._counts, defaultdict(Counter)
            durations, self._durations = self._durations, defaultdict(list)
            cold, self._cold = self._cold, False
        if cold:
            self._flush(function, None, {"cold_start": 1}, [])
        for task in sorted(set(counts) | set(durations)):
            self._flush(function, task, counts.get(task, Counter()), durations.get(task, []))

    def _flush(self, function: str, task: str | None, counts: Any, durations: list[float]) -> None:
        emf = AmazonCloudWatchEMFProvider(namespace=self.namespace, service=self.service)
        emf.add_dimension("function", function)
        if task is not None:
            emf.add_dimension("task", task)
        for name, value in counts.items():
            if value:
                emf.add_metric(name=name, unit=MetricUnit.Count, value=value)
        for ms in durations:
            emf.add_metric(name="duration", unit=MetricUnit.Milliseconds, value=round(ms, 3))
        if emf.metric_set:
            emf.flush_metrics()
