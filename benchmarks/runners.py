"""One burst through tayori (embedded + local runtime) or through Celery workers.

Both are measured the same way: the burst is enqueued first (timed alone), then the
consumers start; drain = last send finished - consumers ready. ``left`` is sampled
as emails not yet sent, the queue-depth "mountain" or "spike".
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common

ROOT = Path(__file__).resolve().parent.parent


def tayori_burst(
    n: int,
    latency_s: float,
    concurrency: int,
    *,
    batch_size: int = 10,
    initial_concurrency: int | None = None,
    directory: str | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """Enqueue ``n`` sends with ``send_many``, then drain them with the local runtime."""
    import tayori
    from tayori.backends.sqlite import SqliteBackend
    from tayori.runtime.local import LocalRuntime, RuntimeConfig

    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        backend = SqliteBackend(tmp)
        app = tayori.App("bench", backend=backend)

        @app.task(queue="mail", idempotency_key="id")
        def send_one(payload: dict) -> None:
            common.simulated_send(payload, latency_s)

        app.queue("mail")
        common.reset_sent()
        t = time.perf_counter()
        send_one.send_many(common.payloads(n))
        enqueue_s = time.perf_counter() - t

        config = RuntimeConfig(
            concurrency=concurrency,
            batch_size=batch_size,
            function_timeout=5.0,
            initial_concurrency=min(concurrency, initial_concurrency or 5),
        )
        runtime = LocalRuntime(app, config)
        sampler = common.Sampler(lambda: n - len(common.SENT))
        t0_wall, t0 = time.time(), time.perf_counter()
        sampler.start(t0)
        runtime.start()
        deadline = t0 + timeout
        while len(common.SENT) < n and time.perf_counter() < deadline:
            time.sleep(0.005)
        last = max((at for _, at in common.SENT), default=t0_wall)
        stats = runtime.stop()
        points = sampler.stop()
        sent = len({to for to, _ in common.SENT})
    return {
        "system": f"tayori C={concurrency}",
        "emails": n,
        "sent_unique": sent,
        "enqueue_s": enqueue_s,
        "drain_s": last - t0_wall,
        "peak_concurrency": stats.peak_concurrency,
        "invocations": stats.invocations,
        "timeline": [(0.0, n), *points],
    }


def celery_burst(
    n: int,
    latency_s: float,
    redis_url: str,
    *,
    pool: str,
    concurrency: int,
    timeout: float = 900,
) -> dict[str, Any]:
    """Enqueue with a ``.delay`` loop, then start a worker and time the drain."""
    import redis

    from benchmarks import celery_app

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    celery_app.app.conf.broker_url = redis_url
    t = time.perf_counter()
    for payload in common.payloads(n):
        celery_app.send_one.delay(payload)
    enqueue_s = time.perf_counter() - t

    env = {**os.environ, "BENCH_REDIS_URL": redis_url, "BENCH_LATENCY_S": str(latency_s)}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [
        sys.executable, "-m", "celery", "-A", "benchmarks.celery_app", "worker",
        "-P", pool, "-c", str(concurrency), "--prefetch-multiplier", "1", "-O", "fair",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning",
    ]  # fmt: skip
    worker = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while client.get("bench:ready") is None:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("celery worker did not become ready")
            time.sleep(0.02)
        ready_wall = float(client.get("bench:ready"))
        t0 = time.perf_counter() - (time.time() - ready_wall)
        sampler = common.Sampler(lambda: n - int(client.llen("bench:done")))
        sampler.start(t0)
        deadline = time.monotonic() + timeout
        while client.llen("bench:done") < n and time.monotonic() < deadline:
            time.sleep(0.02)
        points = sampler.stop()
        done = [float(x) for x in client.lrange("bench:done", 0, -1)]
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    client.close()
    return {
        "system": f"celery {pool} x{concurrency}",
        "emails": n,
        "sent_unique": len(done),
        "enqueue_s": enqueue_s,
        "drain_s": (max(done) - ready_wall) if done else float("nan"),
        "peak_concurrency": concurrency,
        "timeline": [(0.0, n), *points],  # at "consumers ready" all n are waiting
    }
