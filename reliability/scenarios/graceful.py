"""Scenario 6: SIGTERM ``tayori worker --processes 2`` while batches are running.

Targets: the running invocations finish (their records are deleted, not redelivered),
received-but-unstarted batches are released at once (nothing waits out a visibility
timeout), the processes exit 0, and a new worker finishes the rest: nothing lost,
no duplicate.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from reliability.harness_app import WORK_QUEUE, HarnessConfig, build
from reliability.procs import WorkerProcess, child_env, dead_letters, wait_drained
from reliability.result import ScenarioResult

CLI = "from tayori.cli import main; main()"


def run(workdir: Path, n: int = 400, latency: float = 0.1) -> ScenarioResult:
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    config = HarnessConfig(str(workdir), latency=latency, function_timeout=5.0)
    path = config.save(workdir / "config.json")
    (workdir / "relapp.py").write_text(
        "from reliability.harness_app import HarnessConfig, build\n"
        f"app = build(HarnessConfig.load({str(path)!r})).app\n"
    )
    h = build(config)
    h.work.send_many({"id": f"g{i}"} for i in range(n))
    log = (workdir / "cli-worker.log").open("wb")
    cmd = [sys.executable, "-c", CLI, "worker", "--app", "relapp:app", "--processes", "2"]
    cmd += ["--concurrency", "4", "--function-timeout", "5", "--queue", WORK_QUEUE]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=log, env=child_env())
    log.close()
    while sum(h.recorder.per_recipient().values()) < n // 4 and proc.poll() is None:
        time.sleep(0.05)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    stop_s = time.monotonic() - t0
    stats = h.app.queue(WORK_QUEUE).stats()
    at_stop = sum(h.recorder.per_recipient().values())
    # finish the rest with a fresh worker
    worker = WorkerProcess(path, (WORK_QUEUE,))
    worker.start()
    drained = wait_drained(h.app, [WORK_QUEUE], 300)
    again = worker.terminate()
    per = h.recorder.per_recipient()
    expected = [f"g{i}" for i in range(n)]
    reasons, _ = dead_letters(h.app, WORK_QUEUE)
    problems = []
    if code != 0 or again != 0:
        problems.append(f"exit codes on SIGTERM: tayori worker {code}, second worker {again}")
    if stats.in_flight:
        problems.append(f"{stats.in_flight} messages left in flight after the stop")
    if not drained:
        problems.append("queue did not drain")
    if "Traceback" in (workdir / "cli-worker.log").read_text(errors="replace"):
        problems.append("traceback in the worker log")
    return ScenarioResult(
        name="graceful stop",
        size=f"{n} tasks of {latency * 1000:g} ms; SIGTERM tayori worker -p 2 mid-batch",
        messages_in=n,
        delivered=sum(1 for e in expected if per.get(e, 0) > 0),
        lost=sum(1 for e in expected if per.get(e, 0) == 0),
        duplicates=sum(v - 1 for v in per.values() if v > 1),
        dead_lettered=sum(reasons.values()),
        dlq_reasons=reasons,
        window=0,
        health=(
            f"stopped in {stop_s:.1f}s with exit {code}; {stats.in_flight} in flight, "
            f"{stats.visible} released for the next worker"
        ),
        problems=problems,
        details={"done_at_stop": at_stop, "stop_seconds": round(stop_s, 2)},
        elapsed_s=round(time.monotonic() - started, 1),
    )
