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


def _bench_app(directory: str, latency_s: float) -> Any:
    import tayori
    from tayori.backends.sqlite import SqliteBackend

    app = tayori.App("bench", backend=SqliteBackend(directory))

    @app.task(queue="mail", idempotency_key="id")
    def send_one(payload: dict) -> None:
        common.simulated_send(payload, latency_s)

    return app


def _runtime_config(concurrency: int, batch_size: int, initial: int | None) -> Any:
    from tayori.runtime.local import RuntimeConfig

    return RuntimeConfig(  # as `tayori worker` runs it: one claimed CPU per process
        concurrency=concurrency,
        batch_size=batch_size,
        function_timeout=5.0,
        initial_concurrency=min(concurrency, initial or 5),
        pin_cpu=True,
    )


def _burst_child(
    directory: str,
    latency_s: float,
    concurrency: int,
    batch_size: int,
    initial: int | None,
    ready: Any,
    go: Any,
    stop: Any,
    out: Any,
) -> None:
    """One worker process (``tayori worker --processes P``): its own pollers and threads."""

    app = _bench_app(directory, latency_s)
    app.queue("mail")
    runtime = app.runtime(_runtime_config(concurrency, batch_size, initial))
    ready.put(os.getpid())
    go.wait()
    runtime.start()
    stop.wait()
    stats = runtime.stop()
    out.put({"sent": list(common.SENT), "peak": stats.peak_concurrency, "inv": stats.invocations})


def tayori_burst(
    n: int,
    latency_s: float,
    concurrency: int,
    *,
    processes: int = 1,
    batch_size: int = 10,
    initial_concurrency: int | None = None,
    directory: str | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """Enqueue ``n`` sends with ``send_many``, then drain them with the local runtime.

    With ``processes`` > 1 the concurrency is split over that many worker processes
    on the same queue directory, as ``tayori worker --processes P`` runs them.
    """
    import multiprocessing as mp

    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        app = _bench_app(tmp, latency_s)
        send_one = app.tasks["send_one"]
        queue = app.queue("mail")
        common.reset_sent()
        t = time.perf_counter()
        send_one.send_many(common.payloads(n))
        enqueue_s = time.perf_counter() - t

        if processes == 1:
            runtime = app.runtime(_runtime_config(concurrency, batch_size, initial_concurrency))
            sampler = common.Sampler(lambda: n - len(common.SENT))
            t0_wall, t0 = time.time(), time.perf_counter()
            sampler.start(t0)
            runtime.start()
            deadline = t0 + timeout
            while len(common.SENT) < n and time.perf_counter() < deadline:
                time.sleep(0.005)
            stats = runtime.stop()
            points = sampler.stop()
            sent_log = list(common.SENT)
            peak, invocations = stats.peak_concurrency, stats.invocations
        else:
            ctx = mp.get_context("spawn")
            ready, out = ctx.Queue(), ctx.Queue()
            go, stop = ctx.Event(), ctx.Event()
            per = concurrency // processes
            children = [
                ctx.Process(
                    target=_burst_child,
                    args=(tmp, latency_s, per, batch_size, initial_concurrency, ready, go, stop,
                          out),
                )
                for _ in range(processes)
            ]  # fmt: skip
            for child in children:
                child.start()
            for _ in children:
                ready.get(timeout=120)
            sampler = common.Sampler(lambda: queue.stats().total)
            t0_wall, t0 = time.time(), time.perf_counter()
            sampler.start(t0)
            go.set()
            deadline = t0 + timeout
            while queue.stats().total > 0 and time.perf_counter() < deadline:
                time.sleep(0.01)
            stop.set()
            results = [out.get(timeout=120) for _ in children]
            for child in children:
                child.join(60)
            points = sampler.stop()
            sent_log = [tuple(x) for r in results for x in r["sent"]]
            peak = sum(r["peak"] for r in results)
            invocations = sum(r["inv"] for r in results)
        last = max((at for _, at in sent_log), default=t0_wall)
        sent = len({to for to, _ in sent_log})
    label = f"tayori C={concurrency}" + (f" ({processes} processes)" if processes > 1 else "")
    return {
        "system": label,
        "processes": processes,
        "emails": n,
        "sent_unique": sent,
        "sends_total": len(sent_log),
        "enqueue_s": enqueue_s,
        "drain_s": last - t0_wall,
        "peak_concurrency": peak,
        "invocations": invocations,
        "timeline": [(0.0, n), *points],
    }


def enqueue_pairs(n: int, redis_url: str, repeats: int) -> dict[str, list[float]]:
    """Enqueue only, ``repeats`` times each, alternating: tayori's ``send_many`` into a
    fresh embedded store, Celery's ``.delay`` loop into a flushed Redis. One sample per
    drain run is at the mercy of what the machine did just before; pairs are not."""
    import redis

    from benchmarks import celery_app

    client = redis.Redis.from_url(redis_url)
    celery_app.app.conf.broker_url = redis_url
    out: dict[str, list[float]] = {"tayori_send_many_s": [], "celery_delay_loop_s": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            send_one = _bench_app(tmp, 0.0).tasks["send_one"]
            t = time.perf_counter()
            send_one.send_many(common.payloads(n))
            out["tayori_send_many_s"].append(time.perf_counter() - t)
        client.flushdb()
        t = time.perf_counter()
        for payload in common.payloads(n):
            celery_app.send_one.delay(payload)
        out["celery_delay_loop_s"].append(time.perf_counter() - t)
        client.flushdb()
    return out


def celery_burst(
    n: int,
    latency_s: float,
    redis_url: str,
    *,
    pool: str,
    concurrency: int,
    timeout: float = 900,
    module: str = "benchmarks.celery_app",
    send: Any = None,
) -> dict[str, Any]:
    """Enqueue with a ``.delay`` loop, then start a worker and time the drain.

    ``module`` is the Celery app / tasks module the worker imports (``-A``); ``send``
    enqueues one payload (default: ``celery_app.send_one.delay``)."""
    import redis

    from benchmarks import celery_app

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    celery_app.app.conf.broker_url = redis_url
    send = send or celery_app.send_one.delay
    t = time.perf_counter()
    for payload in common.payloads(n):
        send(payload)
    enqueue_s = time.perf_counter() - t

    env = {**os.environ, "BENCH_REDIS_URL": redis_url, "BENCH_LATENCY_S": str(latency_s)}
    env["BENCH_RECORD"] = "redis"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [
        sys.executable, "-m", "celery", "-A", module, "worker",
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
