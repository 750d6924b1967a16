"""The event source mapping's rules, as pure functions (shared by the local runtime and tests)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("tayori.runtime")

MAX_BATCH_SIZE = 10_000
MAX_BATCHING_WINDOW = 300.0
MAX_FUNCTION_TIMEOUT = 900.0
# Scaling of an SQS event source mapping (AWS Lambda developer guide, "Configuring scaling
# behavior for SQS event source mappings"; older copies of the page say 1,000 per mapping).
INITIAL_CONCURRENCY = 5
SCALE_UP_PER_MINUTE = 300
MAX_CONCURRENCY_PER_MAPPING = 1250
MAXIMUM_CONCURRENCY_RANGE = (2, 1000)  # ScalingConfig.MaximumConcurrency
MAX_LOCAL_CONCURRENCY = 10_000  # the local runtime's own cap (threads in one process)


def succeeded_ids(batch_ids: Sequence[str], response: Any) -> set[str]:
    """Which records the ESM deletes after an invocation that returned ``response``.

    With ReportBatchItemFailures: None, {} or an empty list means all succeeded;
    listed ids are retried; an unknown, empty or null id or a malformed response
    means the whole batch failed.
    """
    everything = set(batch_ids)
    if response is None or response == {} or response == "":
        return everything
    if not isinstance(response, dict):
        return set()
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return everything
    if not isinstance(failures, list):
        return set()
    failed: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in everything:
            return set()
        failed.add(ident)
    return everything - failed


def recommended_visibility_timeout(function_timeout: float, batching_window: float) -> int:
    """AWS: queue visibility timeout >= 6 x function timeout + batching window."""
    return int(6 * function_timeout + batching_window + 0.999)


def check_visibility_timeout(
    queue: str, visibility_timeout: int, function_timeout: float, batching_window: float
) -> str | None:
    want = recommended_visibility_timeout(function_timeout, batching_window)
    if visibility_timeout < want:
        return (
            f"queue {queue}: visibility timeout {visibility_timeout}s is under 6 x function "
            f"timeout + batching window = {want}s; a slow batch may be delivered twice"
        )
    return None
