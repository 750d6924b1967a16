"""Scenario 5: storage faults -- the blob store refuses writes, the SQLite store is
unavailable at start, AWS answers with throttling and 500s (injected in front of moto).

Targets: a clear one-line error to the producer, nothing half-enqueued (a message
whose body did not reach the blob store is never sent), and a worker that backs off
while AWS fails and drains the queue once it recovers.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from reliability.faultproxy import FAKE_CREDENTIALS, FaultProxy, MotoServer
from reliability.harness_app import WORK_QUEUE, HarnessConfig, build
from reliability.procs import WorkerProcess, child_env, dead_letters, queue_depth, wait_drained
from reliability.recorder import Recorder
from reliability.result import ScenarioResult
from tayori.app import App
from tayori.errors import SendFailed, TayoriError
from tayori.runtime.local import RuntimeConfig
from tayori.settings import Settings

CLI = "from tayori.cli import main; main()"
BIG = 300_000  # over the 256 KiB claim-check threshold


def _one_line(exc: BaseException) -> bool:
    return isinstance(exc, TayoriError) and "\n" not in str(exc) and bool(str(exc))


def blob_faults(workdir: Path) -> tuple[list[str], dict[str, str]]:
    """Blob writes fail two ways; the producer must see BlobError and nothing is queued."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    # 1. the bucket directory cannot be created (a file is in the way)
    config = HarnessConfig(str(workdir / "blob-notdir"))
    h = build(config)
    h.app.queue(WORK_QUEUE)
    blobs = Path(config.settings().sqlite_path) / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / "tayori").write_text("not a directory")
    try:
        h.work.send({"id": "big", "pad": "x" * BIG})
        problems.append("blob write into a non-directory did not fail")
    except Exception as exc:
        seen["bucket path is a file"] = f"{type(exc).__name__}: {exc}"
        if not _one_line(exc):
            problems.append(f"unclear error: {type(exc).__name__}")
    if queue_depth(h.app, WORK_QUEUE):
        problems.append("a message was enqueued although its blob was not stored")
    # 2. the disk is full: the producer process may write at most 128 KiB per file
    config = HarnessConfig(str(workdir / "blob-full"))
    path = config.save(Path(config.directory) / "config.json")
    h = build(config)
    h.app.queue(WORK_QUEUE)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (128 * 1024, 128 * 1024))

    out = subprocess.run(
        [sys.executable, "-m", "reliability.producer", str(path), "big", str(BIG)],
        capture_output=True,
        text=True,
        env=child_env(),
        preexec_fn=limit,
        check=False,
        timeout=120,
    )
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {"ok": None, "error": "no result", "message": out.stderr[-300:]}
    seen["disk full (EFBIG)"] = f"{result.get('error')}: {result.get('message')}"
    if result.get("ok") is not False or result.get("error") != "BlobError":
        problems.append(f"full disk: producer saw {result}")
    if queue_depth(h.app, WORK_QUEUE):
        problems.append("full disk: a message was enqueued although its blob was not stored")
    return problems, seen


def sqlite_unavailable(workdir: Path) -> tuple[list[str], dict[str, str], int]:
    """queues.db is unusable at start: clear errors; once repaired a worker drains the queue."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    config = HarnessConfig(str(workdir / "sqlite-broken"))
    store = Path(config.settings().sqlite_path)
    (store / "queues.db").mkdir(parents=True)  # a directory where the database file should be
    try:
        build(config).work.send({"id": "x"})
        problems.append("send on an unusable store did not fail")
    except Exception as exc:
        seen["producer"] = f"{type(exc).__name__}: {exc}"
        if not _one_line(exc):
            problems.append(f"producer got an unclear error: {type(exc).__name__}: {exc}")
    # the real CLI worker: one line on stderr, non-zero exit, no traceback
    (Path(config.directory) / "relapp.py").write_text(
        "from reliability.harness_app import HarnessConfig, build\n"
        f"app = build(HarnessConfig.load({str(Path(config.directory) / 'config.json')!r})).app\n"
    )
    config.save(Path(config.directory) / "config.json")
    cli = subprocess.run(
        [sys.executable, "-c", CLI, "worker", "--app", "relapp:app"],
        cwd=config.directory,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seen["tayori worker"] = f"exit {cli.returncode}: {cli.stderr.strip()[-300:]}"
    if cli.returncode == 0 or "Traceback" in cli.stderr or len(cli.stderr.strip().splitlines()) > 2:
        problems.append(f"tayori worker on an unusable store: {seen['tayori worker']}")
    # repair, then the same directory works: send 50, a worker process drains them
    (store / "queues.db").rmdir()
    h = build(config)
    h.work.send_many({"id": f"s{i}"} for i in range(50))
    worker = WorkerProcess(Path(config.directory) / "config.json", (WORK_QUEUE,))
    worker.start()
    drained = wait_drained(h.app, [WORK_QUEUE], 120)
    code = worker.terminate()
    per = h.recorder.per_recipient()
    delivered = sum(1 for i in range(50) if per.get(f"s{i}"))
    if not drained or code != 0 or delivered != 50:
        problems.append(f"after repair: drained={drained} exit={code} delivered={delivered}/50")
    return problems, seen, delivered


def aws_faults(
    workdir: Path, n: int = 150, rate: float = 0.3, outage: float = 6.0, faulty: float = 10.0
) -> ScenarioResult:
    """Producer and worker on moto behind the fault proxy: errors, outage, recovery."""
    import boto3

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with MotoServer(workdir) as moto_port, FaultProxy(moto_port) as proxy:
        settings = Settings(
            url="aws://?region=us-east-1",
            endpoint_url=proxy.url,
            bucket="tayori-reliability",
            visibility_timeout=12,
        )
        from tayori.backends.aws import AwsBackend

        backend = AwsBackend.from_settings(settings)
        backend._session = boto3.session.Session(region_name="us-east-1", **FAKE_CREDENTIALS)
        backend.create_resources()
        app = App("reliability", settings=settings, backend=backend)
        recorder = Recorder(workdir)

        @app.task(name="work", queue=WORK_QUEUE, idempotency_key="id")
        def work(payload: dict) -> None:
            recorder.accept([payload["id"]])

        app.queue(WORK_QUEUE)
        # producer under 30% faults: what does not go after retries is a clear SendFailed
        proxy.rate = rate
        pending = [{"id": f"a{i}"} for i in range(n)]
        surfaced: list[str] = []
        raw_errors = 0
        for _ in range(10):
            failed: list[dict] = []
            for i in range(0, len(pending), 10):
                part = pending[i : i + 10]
                try:
                    work.send_many(part)
                except SendFailed as exc:
                    surfaced.append(str(exc))
                    failed += [part[k] for k in exc.failed]
                except TayoriError as exc:
                    surfaced.append(f"{type(exc).__name__}: {exc}")
                    failed += part
                except Exception as exc:  # a raw botocore error would be a defect
                    raw_errors += 1
                    surfaced.append(f"RAW {type(exc).__name__}: {exc}")
                    failed += part
            pending = failed
            if not pending:
                break
        if pending:
            problems.append(f"{len(pending)} payloads never enqueued")
        if raw_errors:
            problems.append(f"{raw_errors} raw (non-tayori) errors reached the producer")
        # outage: every call fails; a send ends in one clear error, the worker keeps polling
        proxy.rate, proxy.after = 1.0, False
        t0 = time.monotonic()
        try:
            work.send({"id": "outage"})
            problems.append("send during a total outage did not fail")
        except TayoriError as exc:
            outage_error = f"{type(exc).__name__} after {time.monotonic() - t0:.1f}s: {exc}"
        except Exception as exc:
            outage_error = f"RAW {type(exc).__name__}: {exc}"
            problems.append("raw error during the outage")
        runtime = app.runtime(RuntimeConfig(concurrency=4, function_timeout=2.0))
        runtime.start()
        time.sleep(outage)
        proxy.rate, proxy.after = rate, True
        time.sleep(faulty)
        proxy.rate = 0.0
        done = threading.Event()
        drained = False
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not done.is_set():
            if app.queue(WORK_QUEUE).stats().total == 0 and runtime.running_invocations == 0:
                drained = True
                break
            time.sleep(1.0)
        stats = runtime.stop()
        per = recorder.per_recipient()
        reasons, _ = dead_letters(app, WORK_QUEUE)
        backend.close()
    expected = [f"a{i}" for i in range(n)]
    if not drained:
        problems.append("worker did not drain the queue after AWS recovered")
    return ScenarioResult(
        name="storage faults (AWS via fault proxy)",
        size=(
            f"{n} messages on moto; {rate:.0%} faults, {outage:g} s outage, "
            f"{faulty:g} s at {rate:.0%}, then recovery"
        ),
        messages_in=n,
        delivered=sum(1 for e in expected if per.get(e, 0) > 0),
        lost=sum(1 for e in expected if per.get(e, 0) == 0),
        duplicates=sum(v - 1 for k, v in per.items() if v > 1 and k in set(expected)),
        dead_lettered=sum(reasons.values()),
        dlq_reasons=reasons,
        window=0,
        health=(
            f"runtime recovered and drained={drained}; "
            f"{stats.function_errors} function errors, {stats.timeouts} timeouts"
        ),
        problems=problems,
        details={
            "injected": dict(proxy.injected),
            "errors_surfaced_to_producer": len(surfaced),
            "example_error": surfaced[0] if surfaced else None,
            "outage_error": outage_error,
            "runtime": stats.as_dict(),
        },
        elapsed_s=round(time.monotonic() - started, 1),
    )


def run_local(workdir: Path) -> ScenarioResult:
    started = time.monotonic()
    problems, seen = blob_faults(workdir)
    more, seen2, delivered = sqlite_unavailable(workdir)
    return ScenarioResult(
        name="storage faults (embedded)",
        size="blob dir unwritable, disk full (EFBIG), queues.db unusable at start",
        messages_in=50,
        delivered=delivered,
        lost=50 - delivered,
        duplicates=0,
        window=0,
        health="worker drained after the store was repaired" if not more else "see problems",
        problems=problems + more,
        details={"errors_seen": {**seen, **{f"sqlite {k}": v for k, v in seen2.items()}}},
        elapsed_s=round(time.monotonic() - started, 1),
    )
