"""Worker counters on disk, so other processes (``tayori status``, the dashboard) see them.

On the embedded backend each worker process writes ``<store>/workers/<host>-<pid>.json``
about once a second (atomically: a temp file, then rename) and a last time on exit.
On AWS the same counters are CloudWatch metrics; nothing is written here.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("tayori.worker")

WORKERS_DIR = "workers"
STALE_AFTER_S = 10.0  # a running worker that has not written for this long is reported stale
KEEP_STOPPED_S = 7 * 24 * 3600
HANDLER_COUNTERS = ("succeeded", "failed", "dead_lettered", "duplicates_skipped")
RUNTIME_COUNTERS = ("invocations", "records", "deleted", "failed_records", "timeouts")


class StatsWriter:
    """Writes one worker process's counters to its file until stopped."""

    def __init__(self, path: Path, app: Any, runtime: Any, interval: float = 1.0) -> None:
        self.path, self.app, self.runtime, self.interval = path, app, runtime, interval
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_app(cls, app: Any, runtime: Any) -> StatsWriter | None:
        directory = getattr(app.backend, "directory", None)
        if directory is None:
            return None
        folder = Path(directory) / WORKERS_DIR
        try:
            folder.mkdir(exist_ok=True)
            _prune(folder)
        except OSError as exc:
            log.warning("worker stats not recorded: %s", exc)
            return None
        return cls(folder / f"{socket.gethostname()}-{os.getpid()}.json", app, runtime)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tayori-stats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.write(stopped=True)

    def snapshot(self, stopped: bool = False) -> dict[str, Any]:
        counters = self.app.handler.counters.snapshot()
        run = self.runtime.stats.as_dict()
        return {
            "app": self.app.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": self.runtime.queue_names,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "stopped": stopped,
            "handler": {k: counters.get(k, 0) for k in HANDLER_COUNTERS},
            "dead_letter_reasons": counters.get("dead_letter_reasons", {}),
            "runtime": {k: run.get(k, 0) for k in (*RUNTIME_COUNTERS, "peak_concurrency")},
        }

    def write(self, stopped: bool = False) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.snapshot(stopped)))
            tmp.replace(self.path)
        except OSError as exc:  # advisory: never stop the worker for it
            log.warning("could not write worker stats %s: %s", self.path, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()


def read_worker_stats(directory: str | os.PathLike[str], now: float | None = None) -> dict:
    """Every recorded worker of the store and the counters summed over them.

    ``state`` is ``running`` (wrote within ``STALE_AFTER_S``), ``stopped`` (exited
    cleanly) or ``stale`` (killed, or on a host whose clock differs).
    """
    now = time.time() if now is None else now
    folder = Path(directory) / WORKERS_DIR
    workers: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now, or not ours
        if data.get("stopped"):
            data["state"] = "stopped"
        elif now - float(data.get("updated_at", 0)) <= STALE_AFTER_S:
            data["state"] = "running"
        else:
            data["state"] = "stale"
        workers.append(data)
    totals = {k: 0 for k in (*HANDLER_COUNTERS, *RUNTIME_COUNTERS)}
    for w in workers:
        for k in HANDLER_COUNTERS:
            totals[k] += int(w.get("handler", {}).get(k, 0))
        for k in RUNTIME_COUNTERS:
            totals[k] += int(w.get("runtime", {}).get(k, 0))
    return {
        "running": sum(w["state"] == "running" for w in workers),
        "counters": totals,
        "workers": workers,
    }


def _prune(folder: Path) -> None:
    cutoff = time.time() - KEEP_STOPPED_S
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass
