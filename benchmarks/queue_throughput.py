"""Benchmark 2: queue throughput on one machine, all measured in the same run.

- tayori embedded queue round trip: send_batch(10) -> receive(10) -> delete_batch(10),
  with 1 / 2 / 4 processes on one queue file;
- tayori end to end: receive(10) -> ``app.lambda_handler`` (Powertools batch processing +
  SQLite idempotency, a no-op task) -> delete_batch, 1 / 2 / 4 processes;
- Celery 5 + Redis: no-op tasks, ``.delay`` enqueue then a prefork worker with 1 / 2 / 4
  processes (acks_late, prefetch 1);
- persist-queue (SQLiteAckQueue, PyPI): put -> get -> ack, one process.

    python -m benchmarks.queue_throughput [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks import common

PROCESSES = (1, 2, 4)


def _bench_app(directory: str) -> Any:
    import tayori
    from tayori.backends.sqlite import SqliteBackend

    app = tayori.App("bench", backend=SqliteBackend(directory))

    @app.task(queue="tp", idempotency_key="id")
    def noop(payload: dict) -> None:
        return None

    return app, noop


def _round_trip_worker(directory: str, messages: int, start: Any, out: Any) -> None:
    from tayori.backends.base import HandleEntry, SendEntry

    app, _ = _bench_app(directory)
    queue = app.queue("tp")
    body = '{"v":1,"task":"noop","key":null,"payload":{"id":"x"},"sent_at":"2026-01-01T00:00:00Z"}'
    entries = [SendEntry(str(i), body) for i in range(10)]
    start.wait()
    done = 0
    t = time.perf_counter()
    while done < messages:
        queue.send_batch(entries)
        got = queue.receive(10)
        if got:
            queue.delete_batch([HandleEntry(str(i), m.receipt_handle) for i, m in enumerate(got)])
        done += len(got)
    out.put((done, time.perf_counter() - t))


def _e2e_worker(directory: str, start: Any, out: Any) -> None:
    from tayori.backends.base import HandleEntry
    from tayori.runtime.local import LambdaContext

    logging.getLogger("tayori").setLevel(logging.ERROR)
    app, _ = _bench_app(directory)
    queue = app.queue("tp")
    app.lambda_handler({"Records": []}, None)  # import the handler before the clock starts
    start.wait()
    done = 0
    t = time.perf_counter()
    while True:
        got = queue.receive(10)
        if not got:
            break
        event = {"Records": [m.to_lambda_record(queue.arn, "local") for m in got]}
        app.lambda_handler(event, LambdaContext("bench", 30.0))
        queue.delete_batch([HandleEntry(str(i), m.receipt_handle) for i, m in enumerate(got)])
        done += len(got)
    out.put((done, time.perf_counter() - t))


def _in_processes(target: Any, args_for: Any, processes: int) -> dict[str, float]:
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(i), start, out)) for i in range(processes)]
    for p in procs:
        p.start()
    time.sleep(0.3)  # let every process open its connections
    t = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t
    for p in procs:
        p.join()
    total = sum(n for n, _ in results)
    return {"messages": total, "seconds": wall, "msgs_per_s": total / wall}


def round_trip(messages: int, processes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        _bench_app(tmp)[0].queue("tp")
        per = messages // processes
        return _in_processes(_round_trip_worker, lambda i: (tmp, per), processes)


def end_to_end(messages: int, processes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        _app, noop = _bench_app(tmp)
        noop.send_many({"id": f"m{i}"} for i in range(messages))
        return _in_processes(_e2e_worker, lambda i: (tmp,), processes)


def celery_noop(messages: int, processes: int, redis_url: str) -> dict[str, float]:
    import redis

    from benchmarks import celery_app

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    celery_app.app.conf.broker_url = redis_url
    t = time.perf_counter()
    for i in range(messages):
        celery_app.noop.delay({"id": f"m{i}"})
    enqueue_s = time.perf_counter() - t
    env = {**os.environ, "BENCH_REDIS_URL": redis_url}
    env["PYTHONPATH"] = f"{common.ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [
        sys.executable, "-m", "celery", "-A", "benchmarks.celery_app", "worker",
        "-P", "prefork", "-c", str(processes), "--prefetch-multiplier", "1", "-O", "fair",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning",
    ]  # fmt: skip
    worker = subprocess.Popen(
        cmd,
        cwd=common.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while client.get("bench:ready") is None:
            if worker.poll() is not None:
                raise RuntimeError("celery worker exited")
            time.sleep(0.02)
        ready = float(client.get("bench:ready"))
        deadline = time.monotonic() + 600
        while int(client.get("bench:noop") or 0) < messages and time.monotonic() < deadline:
            time.sleep(0.01)
        wall = time.time() - ready
        done = int(client.get("bench:noop") or 0)
    finally:
        worker.terminate()
        worker.wait(20)
        client.close()
    return {
        "messages": done,
        "seconds": wall,
        "msgs_per_s": done / wall,
        "enqueue_msgs_per_s": messages / enqueue_s,
    }


def persist_queue(messages: int) -> dict[str, float]:
    import persistqueue

    with tempfile.TemporaryDirectory() as tmp:
        q = persistqueue.SQLiteAckQueue(tmp, auto_commit=True, multithreading=True)
        item = {"id": "x", "task": "noop"}
        t = time.perf_counter()
        for _ in range(messages // 10):
            for _ in range(10):
                q.put(item)
            for _ in range(10):
                q.ack(q.get(block=False))
        wall = time.perf_counter() - t
        q.close()
    n = messages // 10 * 10
    return {"messages": n, "seconds": wall, "msgs_per_s": n / wall}


def run(smoke: bool) -> dict:
    n = 300 if smoke else 20_000
    n_e2e = 200 if smoke else 10_000
    n_celery = 200 if smoke else 5_000
    data: dict[str, Any] = {"round_trip": {}, "end_to_end": {}, "celery_noop": {}}
    for p in PROCESSES:
        data["round_trip"][str(p)] = r = round_trip(n, p)
        print(f"tayori round trip   x{p}: {r['msgs_per_s']:9.0f} msg/s", flush=True)
    for p in PROCESSES:
        data["end_to_end"][str(p)] = r = end_to_end(n_e2e, p)
        print(f"tayori end to end   x{p}: {r['msgs_per_s']:9.0f} msg/s", flush=True)
    with common.redis_server() as url:
        for p in PROCESSES:
            data["celery_noop"][str(p)] = r = celery_noop(n_celery, p, url)
            print(f"celery no-op        x{p}: {r['msgs_per_s']:9.0f} msg/s", flush=True)
    data["persist_queue"] = r = persist_queue(n)
    print(f"persist-queue       x1: {r['msgs_per_s']:9.0f} msg/s", flush=True)
    best_rt = max(v["msgs_per_s"] for v in data["round_trip"].values())
    best_e2e = max(v["msgs_per_s"] for v in data["end_to_end"].values())
    best_celery = max(v["msgs_per_s"] for v in data["celery_noop"].values())
    data["ratios"] = {
        "tayori_end_to_end_over_celery_noop": best_e2e / best_celery,
        "tayori_round_trip_over_persist_queue": best_rt / data["persist_queue"]["msgs_per_s"],
    }
    data["targets_met"] = {
        "round_trip_20k_msgs_per_s": best_rt >= 20_000,
        "end_to_end_5k_msgs_per_s": best_e2e >= 5_000,
    }
    plot(data, smoke)
    path = common.write_result("queue_throughput", data, smoke)
    print(f"wrote {path}")
    return data


def plot(data: dict, smoke: bool) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    width = 0.25
    for i, (key, label) in enumerate(
        (
            ("round_trip", "tayori queue round trip"),
            ("end_to_end", "tayori end to end (handler + idempotency)"),
            ("celery_noop", "Celery + Redis no-op"),
        )
    ):
        xs = [j + (i - 1) * width for j in range(len(PROCESSES))]
        ax.bar(xs, [data[key][str(p)]["msgs_per_s"] for p in PROCESSES], width, label=label)
    ax.axhline(data["persist_queue"]["msgs_per_s"], color="gray", ls="--", label="persist-queue")
    ax.set_xticks(range(len(PROCESSES)), [f"{p} process(es)" for p in PROCESSES])
    ax.set_ylabel("messages / s")
    ax.set_title("queue throughput on one machine (same run)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(common.plot_path("queue_throughput", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    run(parser.parse_args().smoke)


if __name__ == "__main__":
    main()
