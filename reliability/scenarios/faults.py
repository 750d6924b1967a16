"""Scenario 3: provider faults -- 10% transient (throttling, 4xx, connection resets),
1% permanent (5xx, fixed per recipient), 1% latency spikes past the function timeout.

Targets: every transient failure delivered in the end, every permanent one in the DLQ
with its reason, and no duplicate from a timed-out execution that finished late.
"""

from __future__ import annotations

import time
from pathlib import Path

from reliability.harness_app import HarnessConfig, build
from reliability.procs import dead_letters
from reliability.recorder import FaultPlan, FaultyTransport
from reliability.result import ScenarioResult

BROADCAST = "faults"


def run(
    workdir: Path,
    recipients: int = 5000,
    *,
    function_timeout: float = 2.0,
    transient: float = 0.10,
    permanent: float = 0.01,
    spike: float = 0.01,
    seed: int = 3,
) -> ScenarioResult:
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    plan = FaultPlan(transient, permanent, spike, function_timeout * 1.5, seed)
    config = HarnessConfig(
        str(workdir),
        function_timeout=function_timeout,
        concurrency=10,
        faults={
            "transient": transient,
            "permanent": permanent,
            "spike": spike,
            "spike_seconds": function_timeout * 1.5,
            "seed": seed,
        },
    )
    h = build(config)
    assert isinstance(h.transport, FaultyTransport)
    emails = [f"user{i:06d}@example.com" for i in range(recipients)]
    doomed = {e for e in emails if plan.is_permanent(e)}
    h.mailer.broadcast(
        "notice",
        ({"email": e, "name": f"U{i}"} for i, e in enumerate(emails)),
        {"body": "hello"},
        broadcast_id=BROADCAST,
    )
    runtime = h.app.runtime(config.runtime())
    stats = runtime.run_until_idle(timeout=900)
    time.sleep(function_timeout * 1.5)  # let a straggler that timed out finish (late)
    per = h.recorder.per_recipient()
    reasons, dead_ids = dead_letters(h.app, "mail")
    dead = {i.partition(":")[2] for i in dead_ids}
    problems = [] if stats.idle else ["queue did not drain"]
    if dead != doomed:
        problems.append(
            f"DLQ holds {len(dead)} recipients, {len(dead - doomed)} not permanent failures, "
            f"{len(doomed - dead)} permanent ones missing"
        )
    if sent := [e for e in doomed if per.get(e)]:
        problems.append(f"{len(sent)} permanent failures were delivered")
    ok_emails = [e for e in emails if e not in doomed]
    injected = dict(h.transport.injected)
    return ScenarioResult(
        name="provider faults",
        size=(
            f"{recipients:,} recipients: {transient:.0%} transient, {permanent:.0%} permanent, "
            f"{spike:.0%} spikes of {function_timeout * 1.5:g}s (timeout {function_timeout:g}s)"
        ),
        messages_in=recipients,
        delivered=sum(1 for e in ok_emails if per.get(e, 0) > 0),
        lost=sum(1 for e in ok_emails if per.get(e, 0) == 0),
        duplicates=sum(n - 1 for n in per.values() if n > 1),
        dead_lettered=sum(reasons.values()),
        dlq_reasons=reasons,
        expected_dead=len(doomed),
        window=0,
        health=(
            f"runtime drained: {stats.timeouts} timed-out invocations, "
            f"{stats.function_errors} function errors, peak {stats.peak_concurrency} concurrent"
        ),
        problems=problems,
        details={"injected": injected, "runtime": stats.as_dict()},
        elapsed_s=round(time.monotonic() - started, 1),
    )
