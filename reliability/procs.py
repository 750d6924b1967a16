"""Worker processes and queue inspection for the scenarios."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tayori.app import App
from tayori.backends.base import MAX_BATCH_ENTRIES, HandleEntry, QueueMessage
from tayori.wire.reasons import ERROR_TYPE_ATTRIBUTE

MODULE = "reliability.worker"
ROOT = Path(__file__).resolve().parent.parent  # the repository: ``reliability`` lives here


def child_env() -> dict[str, str]:
    """The environment for a child Python that imports ``reliability`` from any cwd
    (the harness is not installed with the wheel: it sits next to ``benchmarks/``)."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


class WorkerProcess:
    """One ``python -m reliability.worker`` child; its stderr goes to a log file."""

    def __init__(self, config_path: Path, queues: tuple[str, ...] = ()) -> None:
        self.config_path, self.queues = config_path, queues
        self.logs = config_path.parent / "logs"
        self.logs.mkdir(exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        log = (self.logs / f"worker-{time.monotonic_ns()}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(self.config_path), *self.queues],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
        log.close()
        return self.proc.pid

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> int:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return self.proc.pid

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def queue_depth(app: App, name: str) -> int:
    return app.queue(name).stats().total


def wait_drained(app: App, names: list[str], timeout: float, settle: float = 1.5) -> bool:
    """True once every named queue stays empty (nothing visible, in flight or delayed)."""
    deadline = time.monotonic() + timeout
    quiet: float | None = None
    while time.monotonic() < deadline:
        if all(queue_depth(app, n) == 0 for n in names):
            quiet = quiet or time.monotonic()
            if time.monotonic() - quiet >= settle:
                return True
        else:
            quiet = None
        time.sleep(0.25)
    return False


def dead_letters(app: App, queue: str) -> tuple[dict[str, int], list[str]]:
    """The queue's dead letters: count by ``tayori-error-type`` and their payload ids.

    Peeked (received, then handed straight back), so they stay for inspection/redrive.
    """
    dlq = app.queue(app.dead_letter_queue_name(queue))
    held: list[QueueMessage] = []
    seen: set[str] = set()
    while True:
        batch = dlq.receive(MAX_BATCH_ENTRIES, 0, 30)
        fresh = [m for m in batch if m.message_id not in seen]
        held.extend(batch)
        if not fresh:
            break
        seen.update(m.message_id for m in fresh)
    reasons: Counter[str] = Counter()
    ids: list[str] = []
    by_id = {m.message_id: m for m in held}
    for m in by_id.values():
        kind = m.attributes.get(ERROR_TYPE_ATTRIBUTE)
        reasons[str(kind.value) if kind else "?"] += 1
        try:
            ids.append(str(json.loads(m.body)["payload"]["id"]))
        except (ValueError, KeyError, TypeError):
            ids.append("?")
    for i in range(0, len(held), MAX_BATCH_ENTRIES):
        part = held[i : i + MAX_BATCH_ENTRIES]
        dlq.change_visibility_batch(
            [HandleEntry(str(n), m.receipt_handle, 0) for n, m in enumerate(part)]
        )
    return dict(reasons), ids


def key_hash(value: str) -> str:
    """Powertools' hash of an idempotency key value (md5 of its JSON form)."""
    raw = json.dumps(value, sort_keys=True).encode()
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def completed_hashes(tayori_dir: Path) -> set[str]:
    """Hashes of the COMPLETED idempotency records (read-only, another connection)."""
    path = tayori_dir / "idempotency.db"
    if not path.exists():
        return set()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT id FROM idempotency WHERE status = 'COMPLETED'").fetchall()
    finally:
        conn.close()
    return {r[0].rpartition("#")[2] for r in rows}


def log_problems(logs: Path) -> dict[str, int]:
    """Count what must never reach users in the workers' logs."""
    found: Counter[str] = Counter()
    for path in logs.glob("*.log"):
        text = path.read_text(errors="replace")
        found["database is locked"] += text.count("database is locked")
        found["Traceback"] += text.count("Traceback")
    return {k: v for k, v in found.items() if v}
