"""Records of one invocation side by side, for I/O-bound tasks.

Lambda bills an invocation's duration: ten sends of 50 ms one after another cost
500 ms, side by side about 50 ms. A task opts in with ``@app.task(concurrency=N)``;
a batch runs N records at a time when every task in it allows that (the smallest N
wins). Powertools' ``AsyncBatchProcessor`` gathers the records and reports partial
batch failures exactly as the sequential ``BatchProcessor`` does; each record runs on
a thread of one pool shared by the handler's invocations (threads keep their store
connections, as a warm Lambda keeps its clients), at most N per invocation.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)

from tayori.registry import Registry

MAX_THREADS = 256


def batch_width(registry: Registry, records: list[dict[str, Any]]) -> int:
    """How many records of this batch may run at once (1: one after another)."""
    if len(records) < 2 or not any(getattr(t, "concurrency", 1) > 1 for t in registry):
        return 1
    width: int | None = None
    for raw in records:
        name = _task_name(raw.get("body"))
        task = registry.tasks.get(name) if name else None
        if task is not None:
            own = max(1, int(getattr(task, "concurrency", 1)))
            width = own if width is None else min(width, own)
    return min(width or 1, len(records))


def _task_name(body: Any) -> str | None:
    # a cheap look at the envelope; claim-check pointers and odd bodies say nothing
    if not isinstance(body, str) or not body.startswith('{"v":'):
        return None
    try:
        name = json.loads(body).get("task")
    except (ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


class RecordPool:
    def __init__(self, max_threads: int = MAX_THREADS) -> None:
        self._max = max_threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max, thread_name_prefix="tayori-record")
            return self._pool

    def run(
        self,
        records: list[dict[str, Any]],
        handle: Callable[[Any], None],
        width: int,
        context: Any,
    ) -> dict[str, Any]:
        pool = self._executor()
        gate: list[asyncio.Semaphore] = []  # made inside the invocation's own loop

        async def record_handler(record: Any) -> None:
            if not gate:
                gate.append(asyncio.Semaphore(width))
            async with gate[0]:
                await asyncio.get_running_loop().run_in_executor(pool, handle, record)

        processor = AsyncBatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=False
        )
        return async_process_partial_response(
            event={"Records": records},
            record_handler=record_handler,
            processor=processor,
            context=context,
        )

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
