"""The main job on the embedded default: a broadcast to N generated recipients.

Everything is the real path: the mail module's Mailer (template, fan-out task,
per-recipient idempotent sends), the SQLite queue, the local ESM runtime; only
the provider is simulated (latency L, it records every delivery).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tayori.app import App
from tayori.mail.broadcast import Mailer
from tayori.mail.templates import Templates
from tayori.runtime.esm import recommended_visibility_timeout
from tayori.runtime.local import LocalRuntime, RuntimeConfig
from tayori.settings import Settings
from tayori.testing.chaos import ChaosConfig, ChaosHandler
from tayori.testing.provider import SimulatedProvider

TEMPLATES = {
    "notice.subject": "News for {{ name }}",
    "notice.txt": "Hello {{ name }},\n\n{{ body }}\n",
    "notice.html": "<p>Hello {{ name }},</p><p>{{ body }}</p>",
}
BROADCAST_ID = "demo"


@dataclass(frozen=True, slots=True)
class DemoSummary:
    recipients: int
    sent: int
    duplicates_skipped: int
    failed: int
    dead_lettered: int
    elapsed_s: float
    throughput_per_s: float
    peak_concurrency: int
    provider_duplicates: int  # recipients the provider saw more than once (must be 0)
    chaos: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return (
            self.sent == self.recipients
            and self.failed == 0
            and self.dead_lettered == 0
            and self.provider_duplicates == 0
        )


def run_demo(
    recipients: int = 10_000,
    latency_ms: float = 50.0,
    concurrency: int = 100,
    *,
    chaos: bool = False,
    function_timeout: float = 5.0,
    directory: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    seed: int | None = None,
) -> DemoSummary:
    """Run the broadcast end to end and return the summary (``on_progress(sent, total)``).

    Without ``directory`` the store lives in a temporary directory that is removed
    afterwards, also when the run is interrupted. With ``seed``, ``chaos`` injects the
    same duplicates, kill and provider errors on every run.
    """
    tmp = None if directory else tempfile.mkdtemp(prefix="tayori-demo-")
    try:
        return _run(
            directory or tmp or "",
            recipients,
            latency_ms,
            concurrency,
            chaos,
            function_timeout,
            on_progress,
            seed,
        )
    finally:
        if tmp is not None:
            _remove(tmp)


def _run(
    where: str,
    recipients: int,
    latency_ms: float,
    concurrency: int,
    chaos: bool,
    function_timeout: float,
    on_progress: Callable[[int, int], None] | None,
    seed: int | None,
) -> DemoSummary:
    settings = Settings(
        url=f"sqlite:///{where}",  # an absolute path gives sqlite:////abs/dir
        visibility_timeout=recommended_visibility_timeout(function_timeout, 0),
    )
    app = App("demo", settings=settings)
    provider = SimulatedProvider(
        latency=latency_ms / 1000.0,
        error_rate=0.05 if chaos else 0.0,
        seed=seed,
        record_subjects=False,
    )
    mailer = Mailer(
        app,
        transport=provider,
        templates=Templates(sources=TEMPLATES),
        sender="news@example.com",
        # small fan-out chunks keep every invocation far inside the function timeout
        chunk_size=100,
        inline_limit=100,
    )
    handler = app.lambda_handler
    chaos_handler = None
    if chaos:
        chaos_handler = ChaosHandler(handler, ChaosConfig(duplicate_rate=0.1, kills=1, seed=seed))
        handler = chaos_handler
    runtime = app.runtime(
        RuntimeConfig(concurrency=concurrency, batch_size=10, function_timeout=function_timeout),
        handler=handler,
    )
    done = threading.Event()
    watcher = None
    try:
        started = time.monotonic()
        mailer.broadcast(
            "notice",
            ({"email": f"user{i:07d}@example.com", "name": f"User {i}"} for i in range(recipients)),
            {"body": "The spring meeting moves to room 4."},
            broadcast_id=BROADCAST_ID,
        )
        if on_progress is not None:
            watcher = threading.Thread(
                target=_watch, args=(mailer, recipients, on_progress, done), daemon=True
            )
            watcher.start()
        stats = runtime.run_until_idle()
        elapsed = time.monotonic() - started
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        _settle(runtime)
    status = mailer.status(BROADCAST_ID)
    counters = app.handler.counters.snapshot()
    per_recipient = provider.per_recipient()
    sent = len(per_recipient)
    summary = DemoSummary(
        recipients=recipients,
        sent=sent,
        duplicates_skipped=counters["duplicates_skipped"],
        failed=recipients - sent,
        dead_lettered=counters["dead_lettered"],
        elapsed_s=round(elapsed, 3),
        throughput_per_s=round(sent / elapsed, 1) if elapsed > 0 else 0.0,
        peak_concurrency=stats.peak_concurrency,
        provider_duplicates=sum(1 for n in per_recipient.values() if n > 1),
        chaos=(
            {
                "duplicate_deliveries_injected": chaos_handler.duplicates_injected,
                "executions_killed": chaos_handler.kills_done,
                "transient_errors_injected": provider.counter("errors"),
                "function_timeouts": stats.timeouts,
            }
            if chaos_handler
            else None
        ),
    )
    if on_progress is not None and status is not None:
        on_progress(status.sent, recipients)
    mailer.store.close()
    app.backend.close()
    return summary


def _settle(runtime: LocalRuntime, timeout: float = 10.0) -> None:
    """Wait for invocations the runtime let run past its stop (they write into the store)."""
    deadline = time.monotonic() + timeout
    while runtime.running_invocations and time.monotonic() < deadline:
        time.sleep(0.05)


def _remove(path: str) -> None:
    # a straggling thread can recreate a SQLite -wal file while the tree is being removed
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.2)


def _watch(
    mailer: Mailer, total: int, on_progress: Callable[[int, int], None], done: threading.Event
) -> None:
    while not done.wait(0.2):
        status = mailer.status(BROADCAST_ID)
        if status is not None:
            on_progress(status.sent, total)
