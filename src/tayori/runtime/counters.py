"""Live counters of running worker processes, for the dashboard (another process).

Each ``tayori worker`` process on the embedded backend writes its counters, the
runtime's (invocations, records, timeouts...) and the handler's (succeeded, failed,
dead-lettered, duplicates skipped; in total and per task, from a handler hook), to
``<tayori dir>/counters/<host>-<pid>.json`` once a second and when it stops. The file
is replaced atomically (write + rename), so a reader never sees half of one. On AWS the
same counts come from Lambda's metrics (the handler's job), so nothing is written there.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DIRNAME = "counters"
INTERVAL = 1.0
STALE_AFTER = 10.0  # a file not refreshed for this long belongs to a dead process
PRUNE_AFTER = 24 * 3600.0
HANDLER_KEYS = ("succeeded", "failed", "dead_lettered", "duplicates_skipped")
RUNTIME_KEYS = ("invocations", "records", "deleted", "failed_records", "timeouts")


class CountersFile:
    """Publishes ``snapshot()`` to one file every ``interval`` seconds until stopped."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        snapshot: Callable[[], dict[str, Any]],
        interval: float = INTERVAL,
    ) -> None:
        self.directory = Path(directory) / DIRNAME
        self.path = self.directory / f"{socket.gethostname()}-{os.getpid()}.json"
        self.snapshot, self.interval = snapshot, interval
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _prune(self.directory)
        self.write()
        self._thread = threading.Thread(target=self._run, name="tayori-counters", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.write(stopped=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def write(self, stopped: bool = False) -> None:
        data = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": time.time(),
            "stopped": stopped,
            **self.snapshot(),
        }
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:
            pass  # counters are best effort: a full disk must not stop the worker


class TaskCounters:
    """A handler hook counting outcomes per task (the handler's own counters are totals)."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def _add(self, record: Any, key: str) -> None:
        task = getattr(record, "task", None) or "(unreadable)"
        with self._lock:
            counts = self._counts.setdefault(task, dict.fromkeys(HANDLER_KEYS, 0))
            counts[key] += 1

    def succeeded(self, record: Any) -> None:
        self._add(record, "succeeded")

    def failed(self, record: Any, error_type: str, reason: str) -> None:
        self._add(record, "failed")

    def dead_lettered(self, record: Any, error_type: str, reason: str) -> None:
        self._add(record, "dead_lettered")

    def duplicate(self, record: Any) -> None:
        self._add(record, "duplicates_skipped")

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {task: dict(counts) for task, counts in self._counts.items()}


@contextlib.contextmanager
def publishing(app: Any, runtime: Any, interval: float = INTERVAL) -> Iterator[None]:
    """Publish ``runtime``'s and ``app``'s handler counters while the block runs
    (embedded backend only)."""
    settings = getattr(app, "settings", None)
    if settings is None or settings.scheme != "sqlite":
        yield
        return

    handler = getattr(app, "handler", None)
    counters = getattr(handler, "counters", None)
    tasks = TaskCounters()
    hooks = getattr(handler, "hooks", None)
    if hooks is not None:
        hooks.add(tasks)

    def snapshot() -> dict[str, Any]:
        return {
            "app": getattr(app, "name", ""),
            "runtime": runtime.stats.as_dict(),
            "handler": counters.snapshot() if counters is not None else {},
            "tasks": tasks.snapshot(),
        }

    publisher = CountersFile(settings.sqlite_path, snapshot, interval)
    publisher.start()
    try:
        yield
    finally:
        publisher.stop()


def read_counters(
    directory: str | os.PathLike[str], stale_after: float = STALE_AFTER
) -> dict[str, Any]:
    """Every worker's last counters and their sums: ``{"workers": [...], "total": {...},
    "tasks": {task: {...}}, "live": n}``. A worker is live when it has not stopped and
    wrote recently."""
    folder = Path(directory) / DIRNAME
    workers = []
    now = time.time()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # replaced or removed while we looked
        data["live"] = not data.get("stopped") and now - data.get("updated_at", 0) < stale_after
        workers.append(data)
    total = dict.fromkeys((*HANDLER_KEYS, *RUNTIME_KEYS), 0)
    for w in workers:
        for key in HANDLER_KEYS:
            total[key] += int(w.get("handler", {}).get(key, 0))
        for key in RUNTIME_KEYS:
            total[key] += int(w.get("runtime", {}).get(key, 0))
    tasks: dict[str, dict[str, int]] = {}
    for w in workers:
        for task, counts in (w.get("tasks") or {}).items():
            into = tasks.setdefault(task, dict.fromkeys(HANDLER_KEYS, 0))
            for key in HANDLER_KEYS:
                into[key] += int(counts.get(key, 0))
    live = sum(w["live"] for w in workers)
    return {"workers": workers, "total": total, "tasks": tasks, "live": live}


def _prune(folder: Path) -> None:
    """Drop files of processes gone for a day: the totals are of recent workers."""
    cutoff = time.time() - PRUNE_AFTER
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
