"""The local event-source-mapping emulator: polls queues and invokes the handler like Lambda.

Per queue, a group of pollers (threads) starts small and adds a poller whenever a
receive comes back full, up to the maximum concurrency; a poller leaves when its
receive comes back empty. Each batch is one "invocation", run on its poller's thread,
with the function timeout enforced the way Lambda does from the outside (a watchdog,
``runtime/watchdog.py``): the batch is treated as failed, its late result discarded,
and the stuck poller replaced.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tayori.backends.base import (
    MAX_BATCH_ENTRIES,
    MAX_WAIT_SECONDS,
    HandleEntry,
    Queue,
    QueueMessage,
)
from tayori.errors import ConfigError, QueueError
from tayori.runtime.affinity import CpuClaim, claim_cpu
from tayori.runtime.esm import (
    INITIAL_CONCURRENCY,
    MAX_BATCH_SIZE,
    MAX_BATCHING_WINDOW,
    MAX_FUNCTION_TIMEOUT,
    MAX_LOCAL_CONCURRENCY,
    check_visibility_timeout,
    succeeded_ids,
)
from tayori.runtime.watchdog import Watchdog

log = logging.getLogger("tayori.runtime")

HandlerFn = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class Source:
    """What one runtime polls and what it invokes, as an event source mapping is
    configured: queues + a function. The runtime never creates queues."""

    queues: tuple[Queue, ...]
    handler: HandlerFn
    function_name: str = "tayori"
    region: str = "local"

    def __post_init__(self) -> None:
        if not self.queues:
            raise ConfigError("a runtime needs at least one queue to poll")


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    concurrency: int = 10
    batch_size: int = 10
    batching_window: float = 0.0
    function_timeout: float = 30.0
    initial_concurrency: int = INITIAL_CONCURRENCY
    poll_wait_seconds: int = 1
    queues: tuple[str, ...] | None = None
    # run the pollers (and the invocations on them) on one CPU that this process claims
    # (runtime/affinity.py): off for a runtime inside an app's own process, on in
    # ``tayori worker``
    pin_cpu: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_LOCAL_CONCURRENCY:
            raise ConfigError(
                f"concurrency must be 1-{MAX_LOCAL_CONCURRENCY}, got {self.concurrency}"
            )
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(f"batch size must be 1-{MAX_BATCH_SIZE}, got {self.batch_size}")
        if not 0 <= self.batching_window <= MAX_BATCHING_WINDOW:
            raise ConfigError(
                f"batching window must be 0-{MAX_BATCHING_WINDOW:g} s, got {self.batching_window}"
            )
        if self.batch_size > MAX_BATCH_ENTRIES and self.batching_window < 1:
            raise ConfigError("a batch size over 10 needs a batching window of at least 1 s")
        if not 0 < self.function_timeout <= MAX_FUNCTION_TIMEOUT:
            raise ConfigError(
                f"function timeout must be 0-{MAX_FUNCTION_TIMEOUT:g} s, "
                f"got {self.function_timeout}"
            )
        if not 0 <= self.poll_wait_seconds <= MAX_WAIT_SECONDS:
            raise ConfigError(f"poll wait must be 0-{MAX_WAIT_SECONDS} s")


@dataclass
class RunStats:
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    failed_records: int = 0
    function_errors: int = 0
    timeouts: int = 0
    peak_concurrency: int = 0
    elapsed_s: float = 0.0
    idle: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class LambdaContext:
    """What a Lambda handler gets as ``context``; remaining time follows the function timeout."""

    def __init__(self, function_name: str, timeout: float, memory_mb: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Group:
    """The pollers of one queue (one event source mapping)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.size = 0
        self.lock = threading.Lock()
        self.failing_since: float | None = None  # receives failing: log once, not per poll

    def receive_failed(self, exc: Exception) -> None:
        with self.lock:
            if self.failing_since is not None:
                return
            self.failing_since = time.monotonic()
        log.warning("receive from %s failing (%s); pollers back off", self.queue.name, exc)

    def receive_worked(self) -> None:
        if self.failing_since is None:
            return
        with self.lock:
            since, self.failing_since = self.failing_since, None
        if since is not None:
            took = time.monotonic() - since
            log.warning("receive from %s works again after %.0f s", self.queue.name, took)


class LocalRuntime:
    def __init__(self, source: Source, config: RuntimeConfig | None = None) -> None:
        self.source = source
        self.config = config or RuntimeConfig()
        self.handler: HandlerFn = source.handler
        self.stats = RunStats()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._running = 0
        self._running_lock = threading.Lock()
        self._groups: list[_Group] = []
        self._started_at = 0.0
        self._last_work = 0.0  # monotonic time of the last receive that returned messages
        self._watchdog = Watchdog(self.config.function_timeout, self._timed_out)
        self._cpu: CpuClaim | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def queue_names(self) -> list[str]:
        return [q.name for q in self.source.queues]

    @property
    def running_invocations(self) -> int:
        return self._running

    def start(self) -> None:
        self._stopping.clear()
        self._started_at = time.monotonic()
        if self.config.pin_cpu and self._cpu is None:
            self._cpu = claim_cpu()
            if self._cpu is not None:
                log.info("runtime threads run on CPU %d", self._cpu.cpu)
        self._watchdog.start()
        for queue in self.source.queues:
            try:
                warning = check_visibility_timeout(
                    queue.name,
                    queue.spec().visibility_timeout,
                    self.config.function_timeout,
                    self.config.batching_window,
                )
            except QueueError as exc:  # advisory only: a throttled queue must not stop the start
                warning = f"queue {queue.name}: cannot check the visibility timeout now: {exc}"
            if warning:
                log.warning(warning)
            group = _Group(queue)
            self._groups.append(group)
            for _ in range(min(self.config.initial_concurrency, self.config.concurrency)):
                self._spawn(group)

    def stop(self, grace: float | None = None) -> RunStats:
        """Stop polling; let running invocations finish (up to ``grace``), release the rest."""
        self._stopping.set()
        deadline = time.monotonic() + (
            self.config.function_timeout + self.config.poll_wait_seconds + 1
            if grace is None
            else grace
        )
        while time.monotonic() < deadline:
            with self._threads_lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                break
            for thread in alive:
                thread.join(max(0.0, deadline - time.monotonic()))
        self._watchdog.close()
        if self._cpu is not None:
            self._cpu.release()
            self._cpu = None
        self.stats.elapsed_s = round(time.monotonic() - self._started_at, 3)
        return self.stats

    def run_until_idle(self, timeout: float | None = None, settle: float = 0.3) -> RunStats:
        """Run until every polled queue is empty with nothing in flight, then stop."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        quiet_since: float | None = None
        next_check = 0.0
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.05)
                now = time.monotonic()
                # Queue stats count every row (slow on a deep queue), so ask only once the
                # pollers themselves have seen nothing for a while, and at most once a second.
                if self._running or now - self._last_work < min(settle, 0.2) or now < next_check:
                    quiet_since = None
                    continue
                next_check = now + 1.0
                if all(g.queue.stats().total == 0 for g in self._groups):
                    quiet_since = quiet_since or now
                    if now - quiet_since >= settle:
                        self.stats.idle = True
                        break
                    next_check = now  # confirm again soon
                else:
                    quiet_since = None
        finally:
            self.stop()
        return self.stats

    # ------------------------------------------------------------------ pollers

    def _spawn(self, group: _Group) -> bool:
        with group.lock:
            if group.size >= self.config.concurrency or self._stopping.is_set():
                return False
            group.size += 1
        thread = threading.Thread(
            target=self._poll, args=(group,), name=f"tayori-poll-{group.queue.name}", daemon=True
        )
        with self._threads_lock:
            # start under the lock: a thread not yet started is not alive, and another
            # spawn's pruning would drop it from the list that stop() joins
            self._threads = [t for t in self._threads if t.is_alive()]
            thread.start()
            self._threads.append(thread)
        return True

    def _poll(self, group: _Group) -> None:
        if self._cpu is not None:
            self._cpu.pin_this_thread()  # threads it starts (record pools) inherit it
        try:
            while not self._stopping.is_set():
                batch = self._gather(group)
                if batch:
                    self._last_work = time.monotonic()
                if not batch:
                    with group.lock:
                        if group.size > min(
                            self.config.initial_concurrency, self.config.concurrency
                        ):
                            group.size -= 1
                            return
                    continue
                if self._stopping.is_set():
                    self._release(group.queue, batch)
                    break
                if len(batch) >= self.config.batch_size:
                    self._spawn(group)  # full batch: there is more work, scale up
                if not self._invoke(group, batch):
                    return  # timed out: the watchdog counted us out and replaced us
        except Exception as exc:
            log.error("poller for %s stopped: %s", group.queue.name, exc)
            with group.lock:
                group.size -= 1
            if not self._stopping.is_set():
                time.sleep(1)
                self._spawn(group)
            return
        with group.lock:
            group.size -= 1

    def _gather(self, group: _Group) -> list[QueueMessage]:
        queue, size = group.queue, self.config.batch_size
        try:
            batch = queue.receive(
                min(MAX_BATCH_ENTRIES, size), wait_seconds=self.config.poll_wait_seconds
            )
        except QueueError as exc:
            group.receive_failed(exc)
            self._stopping.wait(1.0)
            return []
        group.receive_worked()
        if not batch or (len(batch) >= size) or self.config.batching_window <= 0:
            return batch
        window_end = time.monotonic() + self.config.batching_window
        while len(batch) < size and not self._stopping.is_set():
            left = window_end - time.monotonic()
            if left <= 0:
                break
            try:
                more = queue.receive(
                    min(MAX_BATCH_ENTRIES, size - len(batch)),
                    wait_seconds=min(MAX_WAIT_SECONDS, max(0, int(left))),
                )
            except QueueError:
                break
            if not more:
                if left < 1:
                    break
                continue
            batch.extend(more)
        return batch

    # ------------------------------------------------------------------ invocation

    def _invoke(self, group: _Group, batch: list[QueueMessage]) -> bool:
        """Run one invocation on this poller's thread (no hand-off to another thread);
        the watchdog enforces the function timeout from outside. False if it timed out."""
        queue = group.queue
        event = {"Records": [m.to_lambda_record(queue.arn, self.source.region) for m in batch]}
        name = f"{self.source.function_name}-{queue.name}"
        context = LambdaContext(name, self.config.function_timeout)
        call = self._watchdog.watch(group, len(batch))
        self.stats.add(invocations=1, records=len(batch))
        with self._running_lock:
            self._running += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, self._running)
        response: Any = None
        error: BaseException | None = None
        try:
            response = self.handler(event, context)
        except BaseException as exc:  # the function failed: the whole batch returns
            error = exc
        finally:
            with self._running_lock:
                self._running -= 1
        if not self._watchdog.finished(call):
            return False  # Lambda would have killed it: the late result is discarded
        if error is not None:
            self.stats.add(function_errors=1, failed_records=len(batch))
            log.warning("invocation on %s failed: %s", queue.name, error)
            return True
        ok = succeeded_ids([m.message_id for m in batch], response)
        self.stats.add(failed_records=len(batch) - sum(m.message_id in ok for m in batch))
        self._delete(queue, [m for m in batch if m.message_id in ok])
        return True

    def _timed_out(self, group: _Group, records: int) -> None:
        """The watchdog's verdict on a running invocation: failed, its poller replaced."""
        self.stats.add(timeouts=1, failed_records=records)
        log.warning(
            "invocation on %s timed out after %ss; %d records will be retried",
            group.queue.name,
            self.config.function_timeout,
            records,
        )
        with group.lock:
            group.size -= 1  # its thread is stuck in the function: it no longer polls
        self._spawn(group)

    def _delete(self, queue: Queue, messages: list[QueueMessage]) -> None:
        for i in range(0, len(messages), MAX_BATCH_ENTRIES):
            part = messages[i : i + MAX_BATCH_ENTRIES]
            entries = [HandleEntry(str(n), m.receipt_handle) for n, m in enumerate(part)]
            try:
                result = queue.delete_batch(entries)
            except QueueError as exc:
                log.warning(
                    "delete on %s failed: %s; messages will be redelivered", queue.name, exc
                )
                continue
            self.stats.add(deleted=len(result.successful))

    def _release(self, queue: Queue, batch: list[QueueMessage]) -> None:
        """Hand a received but unprocessed batch back at once (graceful stop)."""
        for i in range(0, len(batch), MAX_BATCH_ENTRIES):
            part = batch[i : i + MAX_BATCH_ENTRIES]
            try:
                queue.change_visibility_batch(
                    [HandleEntry(str(n), m.receipt_handle, 0) for n, m in enumerate(part)]
                )
            except QueueError as exc:
                log.warning("could not release messages on %s: %s", queue.name, exc)
