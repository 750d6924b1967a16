"""``tayori worker``: P processes, each an independent set of pollers (like separate ESMs).

Signals: the first SIGINT/SIGTERM stops every process gracefully (in-flight batches
finish, received-but-unstarted ones are released); a second one forces (the parent
kills its children; their in-flight messages return after the visibility timeout).
Children start with SIGINT/SIGTERM blocked and unblock them once their handler is in
place, so a Ctrl-C that lands while a child is still importing is not lost.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from typing import Any

from tayori.errors import ConfigError
from tayori.loader import load_object
from tayori.runtime.counters import HANDLER_KEYS, publishing
from tayori.runtime.local import RuntimeConfig
from tayori.runtime.stopflag import StopFlag

log = logging.getLogger("tayori.worker")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FORCED_EXIT = 130
IDLE_SETTLE_S = 1.0


def load_app(ref: str) -> Any:
    """``package.module:attribute`` -> the App object (or a Mailer's app)."""
    if ":" not in str(ref):
        raise ConfigError(f"--app must look like package.module:app, got {ref!r}")
    obj = load_object(ref)
    if type(obj).__module__.startswith("celery."):  # an unchanged Celery app (issue 11)
        from tayori.contrib.celery import CeleryWorker

        obj = CeleryWorker(obj)
    if hasattr(obj, "app") and not hasattr(obj, "tasks"):
        obj = obj.app  # a Mailer or similar wrapper
    if not hasattr(obj, "tasks"):
        raise ConfigError(f"{ref} is not a tayori App")
    return obj


def run_in_this_process(
    app: Any,
    config: RuntimeConfig,
    stop: StopFlag | threading.Event,
    *,
    record_stats: bool = True,
    until_idle: bool = False,
) -> dict[str, Any]:
    """Poll until ``stop`` is set (or, with ``until_idle``, until every polled queue has
    been empty with nothing running for ``IDLE_SETTLE_S``), then stop gracefully.

    On the embedded backend the counters are also published to ``<store>/counters/``
    every second (``runtime.counters``), so ``tayori status`` and the dashboard in
    another process show them while this runs.
    """
    runtime = app.runtime(config)
    # publishing first: its per-task hook must see the very first batch
    with publishing(app, runtime) if record_stats else contextlib.nullcontext():
        runtime.start()
        stats = _poll_until(app, runtime, stop, until_idle)
    counters = app.handler.counters.snapshot()
    stats["handler"] = {k: counters.get(k, 0) for k in HANDLER_KEYS}
    return stats


def _poll_until(
    app: Any, runtime: Any, stop: StopFlag | threading.Event, until_idle: bool
) -> dict[str, Any]:
    quiet_since: float | None = None
    # a timed wait: the main thread returns to the interpreter often enough to run handlers
    while not stop.wait(0.5):
        if not until_idle:
            continue
        if runtime.running_invocations == 0 and all(
            app.queue(name).stats().total == 0 for name in runtime.queue_names
        ):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= IDLE_SETTLE_S:
                break
        else:
            quiet_since = None
    return runtime.stop().as_dict()


@dataclass
class PoolResult:
    """What the processes reported: their stats, one line per failed process, forced or not."""

    stats: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    forced: bool = False


def _child(
    ref: str,
    config: dict[str, Any],
    import_path: Sequence[str],
    results: Any,
    index: int,
    until_idle: bool,
) -> None:
    stop = StopFlag()  # set from a signal handler: no lock (see runtime.stopflag)
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the parent
    try:
        sys.path[:0] = [p for p in import_path if p not in sys.path]
        app = load_app(ref)
        cfg = RuntimeConfig(
            **{**config, "queues": tuple(config["queues"]) if config["queues"] else None}
        )
        stats = run_in_this_process(app, cfg, stop, until_idle=until_idle)
        results.put({"index": index, "stats": stats})
    except BaseException as exc:  # reported by the parent as one line
        results.put({"index": index, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
        raise SystemExit(1) from None


def run_processes(
    ref: str,
    processes: int,
    config: RuntimeConfig,
    import_path: Sequence[str] = (),
    *,
    until_idle: bool = False,
) -> PoolResult:
    """Start ``processes`` workers that import ``ref`` with ``import_path`` first on sys.path."""
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    children = [
        ctx.Process(
            target=_child,
            args=(ref, asdict(config), list(import_path), results, i, until_idle),
            name=f"tayori-worker-{i}",
        )
        for i in range(processes)
    ]
    presses = 0
    outcome = PoolResult()

    def on_signal(*_: Any) -> None:
        nonlocal presses
        presses += 1
        _signal_children(children, signal.SIGTERM if presses == 1 else signal.SIGKILL)
        if presses > 1:
            outcome.forced = True

    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        for sig in STOP_SIGNALS:
            signal.signal(sig, on_signal)
        for child in children:
            child.start()  # inherits the blocked mask through fork + exec
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # a pending Ctrl-C runs now
    reported: dict[int, dict[str, Any]] = {}
    while any(c.is_alive() for c in children):
        wait([c.sentinel for c in children if c.is_alive()], timeout=0.5)
        _drain(results, reported)
        if presses == 0 and any(
            "error" in r for r in reported.values()
        ):  # one failed: stop the others
            presses = 1
            _signal_children(children, signal.SIGTERM)
    for child in children:
        child.join()
    _drain(results, reported)
    for i, child in enumerate(children):
        report = reported.get(i, {})
        if "stats" in report:
            outcome.stats.append(report["stats"])
        elif "error" in report:
            outcome.errors.append(f"worker process {i} failed: {report['error']}")
        elif not outcome.forced:
            outcome.errors.append(f"worker process {i} exited with code {child.exitcode}")
    return outcome


def _drain(results: Any, into: dict[int, dict[str, Any]]) -> None:
    while not results.empty():
        item = results.get()
        into[item["index"]] = item


def _signal_children(children: list[Any], sig: int) -> None:
    for child in children:
        if child.is_alive() and child.pid:
            try:
                os.kill(child.pid, sig)
            except ProcessLookupError:
                pass
