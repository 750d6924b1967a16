"""Scenario 4: 4 producer and 4 worker processes on one embedded directory for 60 s.

Targets: no "database is locked" (or any other error) reaches a producer or a worker
log, nothing enqueued is lost, and the throughput is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from reliability.harness_app import WORK_QUEUE, HarnessConfig, build
from reliability.procs import WorkerProcess, child_env, dead_letters, log_problems, wait_drained
from reliability.producer import LOOP_BATCH
from reliability.result import ScenarioResult


def run(
    workdir: Path, seconds: float = 60.0, producers: int = 4, workers: int = 4
) -> ScenarioResult:
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    config = HarnessConfig(str(workdir), concurrency=8)
    path = config.save(workdir / "config.json")
    h = build(config)
    h.app.queue(WORK_QUEUE)
    pool = [WorkerProcess(path, (WORK_QUEUE,)) for _ in range(workers)]
    for w in pool:
        w.start()
    (workdir / "logs").mkdir(exist_ok=True)
    procs = []
    for i in range(producers):
        log = (workdir / "logs" / f"producer-{i}.log").open("wb")
        cmd = [sys.executable, "-m", "reliability.producer", str(path), "loop"]
        procs.append(
            subprocess.Popen([*cmd, str(seconds), f"p{i}"], stdout=log, stderr=log, env=child_env())
        )
        log.close()
    codes = [p.wait() for p in procs]
    produced_at = time.monotonic()
    drained = wait_drained(h.app, [WORK_QUEUE], timeout=max(120.0, seconds * 10))
    drained_at = time.monotonic()
    stops = [w.terminate() for w in pool]
    expected: list[str] = []
    errors: list[str] = []
    for i in range(producers):
        out = json.loads((workdir / "producers" / f"p{i}.json").read_text())
        failed = set(out["failed_batches"])
        errors += out["errors"]
        for start in range(0, out["attempted"], LOOP_BATCH):
            if start not in failed:
                expected += [f"p{i}-{start + k}" for k in range(LOOP_BATCH)]
    per = h.recorder.per_recipient()
    reasons, _ = dead_letters(h.app, WORK_QUEUE)
    problems = [f"producer error: {e}" for e in errors[:3]]
    problems += [f"{n}x '{k}' in logs" for k, n in log_problems(workdir / "logs").items()]
    if not drained:
        problems.append("queue did not drain")
    if any(c != 0 for c in codes + stops):
        problems.append(f"exit codes: producers {codes}, workers on SIGTERM {stops}")
    delivered = sum(1 for e in expected if per.get(e, 0) > 0)
    total_s = drained_at - started
    return ScenarioResult(
        name="contention",
        size=f"{producers} producers + {workers} worker processes, {seconds:g} s",
        messages_in=len(expected),
        delivered=delivered,
        lost=len(expected) - delivered,
        duplicates=sum(n - 1 for n in per.values() if n > 1),
        dead_lettered=sum(reasons.values()),
        dlq_reasons=reasons,
        window=0,
        health=(
            f"{sum(c == 0 for c in stops)}/{workers} workers stopped cleanly; "
            f"{len(errors)} errors surfaced to producers"
        ),
        problems=problems,
        details={
            "enqueued_per_s": round(len(expected) / (produced_at - started), 1),
            "delivered_per_s": round(delivered / total_s, 1),
            "drain_after_producers_s": round(drained_at - produced_at, 1),
        },
        elapsed_s=round(time.monotonic() - started, 1),
    )
