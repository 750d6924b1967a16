"""``tayori worker``: P processes, each an independent set of pollers (like separate ESMs)."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
from dataclasses import asdict
from typing import Any

from tayori.errors import ConfigError
from tayori.loader import load_object
from tayori.runtime.counters import publishing
from tayori.runtime.local import RuntimeConfig

log = logging.getLogger("tayori.worker")


def load_app(ref: str) -> Any:
    """``package.module:attribute`` -> the App object (or a Mailer's app)."""
    if ":" not in str(ref):
        raise ConfigError(f"--app must look like package.module:app, got {ref!r}")
    obj = load_object(ref)
    if hasattr(obj, "app") and not hasattr(obj, "tasks"):
        obj = obj.app  # a Mailer or similar wrapper
    if not hasattr(obj, "tasks"):
        raise ConfigError(f"{ref} is not a tayori App")
    return obj


def run_in_this_process(app: Any, config: RuntimeConfig, stop: threading.Event) -> dict[str, Any]:
    """Poll until ``stop`` is set, then stop gracefully; return the run's stats."""
    runtime = app.runtime(config)
    runtime.start()
    with publishing(app, runtime):  # live counters for the dashboard
        stop.wait()
        return runtime.stop().as_dict()


def _child(ref: str, config: dict[str, Any], results: Any) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    app = load_app(ref)
    cfg = RuntimeConfig(
        **{**config, "queues": tuple(config["queues"]) if config["queues"] else None}
    )
    results.put(run_in_this_process(app, cfg, stop))


def run_processes(ref: str, processes: int, config: RuntimeConfig) -> list[dict[str, Any]]:
    """Start ``processes`` workers; SIGINT/SIGTERM stops them all gracefully."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(ref, asdict(config), results), name=f"tayori-worker-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()
    stopping = threading.Event()

    def forward(*_: Any) -> None:
        stopping.set()
        for child in children:
            if child.is_alive() and child.pid:
                try:
                    os.kill(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    stats = []
    for child in children:
        child.join()
    while not results.empty():
        stats.append(results.get())
    if any(c.exitcode not in (0, None) for c in children) and not stopping.is_set():
        print("a worker process exited with an error", file=sys.stderr)
    return stats
