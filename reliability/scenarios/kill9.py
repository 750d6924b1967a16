"""Scenario 1: kill -9 a random worker process every 1-2 s, restart it, N times.

The kill window is measured, not guessed: right after each kill (the process is gone,
so nothing of it can change any more) the harness lists the emails that process had
handed to the provider whose idempotency record is not COMPLETED. Only those can be
sent twice, and every duplicate found at the end must be one of them.
"""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path

from reliability.harness_app import HarnessConfig, build
from reliability.procs import (
    WorkerProcess,
    completed_hashes,
    dead_letters,
    key_hash,
    log_problems,
    queue_depth,
    wait_drained,
)
from reliability.recorder import Recorder
from reliability.result import ScenarioResult
from reliability.smtpd import RecordingSmtpServer
from tayori.mail import store as outcomes

BROADCAST = "kill9"


def run(
    workdir: Path,
    recipients: int = 20_000,
    kills: int = 20,
    processes: int = 3,
    *,
    transport: str = "record",
    latency: float = 0.002,
    seed: int = 1,
    drain_timeout: float = 600.0,
) -> ScenarioResult:
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    server_cm = (
        RecordingSmtpServer(Recorder(workdir)) if transport == "smtp" else contextlib.nullcontext(0)
    )
    with server_cm as port:
        config = HarnessConfig(
            str(workdir), transport=transport, smtp_port=port, latency=latency, chunk_size=500
        )
        path = config.save(workdir / "config.json")
        h = build(config)
        emails = [f"user{i:06d}@example.com" for i in range(recipients)]
        h.mailer.broadcast(
            "notice",
            ({"email": e, "name": f"User {i}"} for i, e in enumerate(emails)),
            {"body": "The spring meeting moves to room 4."},
            broadcast_id=BROADCAST,
        )
        workers = [WorkerProcess(path, ("mail",)) for _ in range(processes)]
        for w in workers:
            w.start()
        tayori_dir = Path(config.settings().sqlite_path)
        window: set[str] = set()
        narrow = 0  # of those, not yet recorded "sent" in the mail store either
        kills_in_window = kills_with_work = 0
        for _ in range(kills):
            time.sleep(rng.uniform(1.0, 2.0))
            victim = rng.choice(workers)
            busy = queue_depth(h.app, "mail") > 0
            pid = victim.kill9()
            time.sleep(0.3)  # let the server finish a DATA the dead client already sent
            done = completed_hashes(tayori_dir)
            caught = {a for a in h.recorder.by_pid(pid) if key_hash(f"{BROADCAST}:{a}") not in done}
            narrow += sum(h.mailer.store.outcome(BROADCAST, a) != outcomes.SENT for a in caught)
            window |= caught
            kills_in_window += bool(caught)
            kills_with_work += busy
            victim.start()
        drained = wait_drained(h.app, ["mail"], drain_timeout)
        codes = [w.terminate() for w in workers]
    per = h.recorder.per_recipient()
    lost = sum(1 for e in emails if per.get(e, 0) == 0)
    dups = {a: n - 1 for a, n in per.items() if n > 1}
    reasons, _ = dead_letters(h.app, "mail")
    problems = []
    if not drained:
        problems.append("queue did not drain")
    if outside := sorted(set(dups) - window):
        problems.append(f"{len(outside)} duplicates outside the counted window: {outside[:3]}")
    status = h.mailer.status(BROADCAST)
    if status is None or status.sent != recipients:
        problems.append(f"mail store says sent={status.sent if status else None}")
    bad_logs = log_problems(workers[0].logs)
    problems += [f"{n}x '{k}' in worker logs" for k, n in bad_logs.items()]
    clean = sum(c == 0 for c in codes)
    if clean != processes:
        problems.append(f"exit codes on SIGTERM: {codes}")
    return ScenarioResult(
        name="kill -9 workers" + (" (SMTP)" if transport == "smtp" else ""),
        size=f"{recipients:,} recipients, {processes} processes, {kills} kills",
        messages_in=recipients,
        delivered=sum(1 for e in emails if per.get(e, 0) > 0),
        lost=lost,
        duplicates=sum(dups.values()),
        dead_lettered=sum(reasons.values()),
        dlq_reasons=reasons,
        window=len(window),
        health=(
            f"{clean}/{processes} stopped cleanly on SIGTERM; queue "
            f"{'empty' if drained else 'NOT empty'}"
        ),
        problems=problems,
        details={
            "kills": kills,
            "kills_while_work_queued": kills_with_work,
            "kills_inside_window": kills_in_window,
            "emails_in_window": len(window),
            "emails_in_window_not_yet_marked_sent": narrow,
            "duplicate_recipients": sorted(dups)[:20],
        },
        elapsed_s=round(time.monotonic() - started, 1),
    )
