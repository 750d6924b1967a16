"""Shared by every benchmark: the simulated send, Redis lifecycle, results and plots.

The "send" is the same function in tayori and Celery, so the comparison measures the
queue and the runtime, nothing else.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# TAYORI_BENCH_RESULTS redirects output (the smoke tests write into a temp dir)
ROOT = Path(__file__).resolve().parent.parent  # the repository
RESULTS = Path(os.environ.get("TAYORI_BENCH_RESULTS") or ROOT / "benchmarks" / "results")

_sent_lock = threading.Lock()
SENT: list[tuple[str, float]] = []  # (recipient, finished at, time.time()) in this process


def simulated_send(payload: dict[str, Any], latency_s: float) -> None:
    """A provider call: wait ``latency_s`` (network + provider), record the recipient."""
    time.sleep(latency_s)
    with _sent_lock:
        SENT.append((payload["to"], time.time()))


def reset_sent() -> None:
    with _sent_lock:
        SENT.clear()


def payloads(n: int) -> Iterator[dict[str, Any]]:
    """The broadcast's recipients: one small payload per email, unique ``id``."""
    for i in range(n):
        yield {"id": f"r{i}", "to": f"user{i}@example.com", "name": f"User {i}"}


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_at_start": os.getloadavg(),
    }


def write_result(name: str, data: dict[str, Any], smoke: bool) -> Path:
    """``results/NAME.json`` (``NAME.smoke.json`` for smoke runs, which CI writes)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}{'.smoke' if smoke else ''}.json"
    data = {"benchmark": name, "smoke": smoke, "machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def plot_path(name: str, smoke: bool) -> Path:
    return RESULTS / f"{name}{'.smoke' if smoke else ''}.png"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence); yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found: apt-get install -y redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Sampler:
    """Samples ``fn()`` (e.g. queue depth) every ``interval`` s on a thread."""

    def __init__(self, fn: Callable[[], int], interval: float = 0.05) -> None:
        self.fn = fn
        self.interval = interval
        self.points: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = 0.0

    def start(self, t0: float) -> Sampler:
        self.t0 = t0
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self.fn()
            except Exception:
                value = -1
            if value >= 0:
                self.points.append((round(time.perf_counter() - self.t0, 3), value))
            self._stop.wait(self.interval)

    def stop(self) -> list[tuple[float, int]]:
        """Stop, taking one last sample so the timeline ends at the final value."""
        self._stop.set()
        self._thread.join()
        self.points.append((round(time.perf_counter() - self.t0, 3), self.fn()))
        return self.points
