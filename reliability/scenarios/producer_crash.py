"""Scenario 2: kill -9 the producer in the middle of ``send_many`` / ``broadcast``, re-run it.

The re-run enqueues everything again (new envelopes, same business keys); the
idempotency keys (``id`` / ``<broadcast>:<address>``) make every recipient get one email.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from reliability.harness_app import WORK_QUEUE, HarnessConfig, build
from reliability.procs import child_env, dead_letters, queue_depth
from reliability.result import ScenarioResult

MODULE = "reliability.producer"


def _kill_when(cmd: list[str], ready: Callable[[], bool], timeout: float = 120) -> bool:
    """Start the producer, SIGKILL it once ``ready()``; False if it finished first."""
    proc = subprocess.Popen([sys.executable, "-m", MODULE, *cmd], env=child_env())
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.kill()
            proc.wait()
            return True
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    return False


def run_send_many(workdir: Path, n: int = 5000) -> ScenarioResult:
    started = time.monotonic()
    config = HarnessConfig(str(workdir), concurrency=8)
    path = str(config.save(_mk(workdir) / "config.json"))
    h = build(config)
    h.app.queue(WORK_QUEUE)
    cmd = [path, "send_many", str(n)]
    killed = _kill_when(cmd, lambda: queue_depth(h.app, WORK_QUEUE) >= n // 3)
    first = queue_depth(h.app, WORK_QUEUE)
    rerun = subprocess.run(
        [sys.executable, "-m", MODULE, *cmd], check=False, env=child_env()
    ).returncode
    enqueued = queue_depth(h.app, WORK_QUEUE)
    stats = h.app.runtime(config.runtime()).run_until_idle(timeout=600)
    return _result(
        "producer crash (send_many)",
        f"{n:,} payloads; killed after {first:,} enqueued",
        h,
        [f"r{i}" for i in range(n)],
        WORK_QUEUE,
        problems=_problems(killed, rerun, stats.idle),
        details={"enqueued_first_run": first, "enqueued_total": enqueued},
        started=started,
    )


def run_broadcast(workdir: Path, n: int = 5000, chunk: int = 100) -> ScenarioResult:
    started = time.monotonic()
    bid = "crash"
    config = HarnessConfig(str(workdir), concurrency=8, chunk_size=chunk)
    path = str(config.save(_mk(workdir) / "config.json"))
    h = build(config)
    chunks = Path(config.settings().sqlite_path) / "blobs" / "tayori" / "tayori" / "broadcasts"
    total_chunks = -(-n // chunk)

    def stored() -> int:
        where = chunks / bid
        return len(list(where.glob("*.jsonl"))) if where.exists() else 0

    cmd = [path, "broadcast", str(n), bid]
    killed = _kill_when(cmd, lambda: stored() >= total_chunks // 3)
    first = stored()
    rerun = subprocess.run(
        [sys.executable, "-m", MODULE, *cmd], check=False, env=child_env()
    ).returncode
    stats = h.app.runtime(config.runtime()).run_until_idle(timeout=600)
    result = _result(
        "producer crash (broadcast)",
        f"{n:,} recipients; killed after {first}/{total_chunks} chunks stored",
        h,
        [f"user{i:06d}@example.com" for i in range(n)],
        "mail",
        problems=_problems(killed, rerun, stats.idle),
        details={"chunks_stored_first_run": first},
        started=started,
    )
    status = h.mailer.status(bid)
    if status is None or status.sent != n or status.total != n:
        result.problems.append(f"mail store: {status.to_dict() if status else None}")
    return result


def _mk(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def _problems(killed: bool, rerun: int, idle: bool) -> list[str]:
    out = []
    if not killed:
        out.append("producer finished before the kill (make the run bigger)")
    if rerun != 0:
        out.append(f"re-run exited {rerun}")
    if not idle:
        out.append("queue did not drain")
    return out


def _result(
    name: str,
    size: str,
    h: object,
    expected: list[str],
    queue: str,
    *,
    problems: list[str],
    details: dict[str, object],
    started: float,
) -> ScenarioResult:
    per = h.recorder.per_recipient()  # type: ignore[attr-defined]
    reasons, _ = dead_letters(h.app, queue)  # type: ignore[attr-defined]
    counters = h.app.handler.counters.snapshot()  # type: ignore[attr-defined]
    return ScenarioResult(
        name=name,
        size=size,
        messages_in=len(expected),
        delivered=sum(1 for e in expected if per.get(e, 0) > 0),
        lost=sum(1 for e in expected if per.get(e, 0) == 0),
        duplicates=sum(n - 1 for n in per.values() if n > 1),
        dead_lettered=sum(reasons.values()),
        dlq_reasons=reasons,
        window=0,
        health=f"in-process runtime drained; {counters['duplicates_skipped']} duplicates skipped",
        problems=problems,
        details={**details, "handler": counters},
        elapsed_s=round(time.monotonic() - started, 1),
    )
