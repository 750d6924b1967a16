"""Benchmark: one Celery task module, drained by Celery's workers and by tayori (options A, B).

``benchmarks/migration_tasks.py`` (``bind=True``, positional + keyword arguments, a
50 ms simulated send) is drained by:

- Celery 5 on Redis: prefork x10 and threads x200 (acks_late, prefetch 1);
- tayori option A: the same module with only its import changed, embedded backend,
  local runtime at concurrency 200, enqueued with the same ``.delay()`` loop;
- tayori option B: the module unchanged; Celery's own ``.delay()`` writes the messages
  (kombu's memory transport, then stored in tayori's embedded queue in kombu's SQS
  encoding, base64), and ``CeleryWorker`` drains them at concurrency 200.

Each tayori option runs in its own process. Drain = last send finished - consumers
started. Ratios come from one run.

    python -m benchmarks.celery_migration [--smoke]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.runners import ROOT, celery_burst

FULL = {"tasks": 10_000, "latency_ms": 50.0, "concurrency": 200, "prefork": 10}
SMOKE = {"tasks": 200, "latency_ms": 5.0, "concurrency": 20, "prefork": 2}
TASKS_MODULE = ROOT / "benchmarks" / "migration_tasks.py"
CELERY_IMPORT = "from benchmarks.celery_app import app\n"
TAYORI_APP = """import os

import tayori
from tayori.backends.sqlite import SqliteBackend

app = tayori.App("bench-a", backend=SqliteBackend(os.environ["BENCH_TAYORI_DIR"]))
"""


# ------------------------------------------------------------------ children (one option each)


def _drain(runtime: Any, n: int, timeout: float) -> tuple[float, float, int]:
    """Start the runtime, wait for n sends; (started at, last send at, peak concurrency)."""
    common.reset_sent()
    t0 = time.time()
    runtime.start()
    deadline = time.monotonic() + timeout
    while len(common.SENT) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    stats = runtime.stop()
    last = max((at for _, at in common.SENT), default=t0)
    return t0, last, stats.peak_concurrency


def _config(concurrency: int) -> Any:
    from tayori.runtime.local import RuntimeConfig

    return RuntimeConfig(concurrency=concurrency, function_timeout=5.0)


def child_a(n: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """Option A: the tasks module with only its import changed."""
    package = workdir / "opt_a"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tayori_app.py").write_text(TAYORI_APP)
    source = TASKS_MODULE.read_text()
    assert source.count(CELERY_IMPORT) == 1
    (package / "tasks.py").write_text(
        source.replace(CELERY_IMPORT, "from .tayori_app import app\n")
    )
    os.environ["BENCH_TAYORI_DIR"] = str(workdir / "store")
    sys.path.insert(0, str(workdir))
    from opt_a import tasks  # type: ignore[import-not-found]

    t = time.perf_counter()
    for p in common.payloads(n):
        tasks.send_welcome.delay(p["to"], name=p["name"])
    enqueue_s = time.perf_counter() - t
    t0, last, peak = _drain(tasks.app.runtime(_config(concurrency)), n, 900)
    return {"enqueue_s": enqueue_s, "drain_s": last - t0, "peak": peak, "sent": _unique()}


def child_b(n: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """Option B: the module unchanged; Celery writes the messages, CeleryWorker drains."""
    from kombu.transport import memory

    from benchmarks import celery_app, migration_tasks
    from tayori.backends.base import SendEntry
    from tayori.backends.sqlite import SqliteBackend
    from tayori.contrib.celery import CeleryWorker

    celery_app.app.conf.broker_url = "memory://"
    t = time.perf_counter()
    for p in common.payloads(n):
        migration_tasks.send_welcome.delay(p["to"], name=p["name"])
    enqueue_s = time.perf_counter() - t
    worker = CeleryWorker(celery_app.app, backend=SqliteBackend(workdir / "store"))
    (queue,) = worker.ensure_queues()
    pending = memory.Channel.queues[celery_app.app.conf.task_default_queue]
    batch: list[SendEntry] = []
    while not pending.empty():
        body = base64.b64encode(json.dumps(pending.get()).encode()).decode()
        batch.append(SendEntry(str(len(batch)), body))
        if len(batch) == 10:
            queue.send_batch(batch)
            batch = []
    if batch:
        queue.send_batch(batch)
    t0, last, peak = _drain(worker.runtime(_config(concurrency)), n, 900)
    return {"enqueue_s": enqueue_s, "drain_s": last - t0, "peak": peak, "sent": _unique()}


def _unique() -> int:
    return len({to for to, _ in common.SENT})


def _child(option: str, n: int, latency_s: float, concurrency: int) -> dict[str, Any]:
    env = {**os.environ, "BENCH_LATENCY_S": str(latency_s)}
    env.pop("BENCH_RECORD", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks.celery_migration", "--child", option,
               "--tasks", str(n), "--concurrency", str(concurrency), "--out", str(out)]  # fmt: skip
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"option {option} failed: {done.stderr[-2000:]}")
        return json.loads(out.read_text())


# ------------------------------------------------------------------ the run


def run(smoke: bool) -> dict[str, Any]:
    cfg = SMOKE if smoke else FULL
    n, latency_ms, c = cfg["tasks"], cfg["latency_ms"], cfg["concurrency"]
    latency = latency_ms / 1000
    runs: list[dict[str, Any]] = []
    for option, label in (("a", "tayori option A"), ("b", "tayori option B")):
        r = _child(option, n, latency, c)
        runs.append({"system": f"{label} C={c}", "concurrency": c, "sent_unique": r["sent"],
                     "enqueue_s": r["enqueue_s"], "drain_s": r["drain_s"],
                     "peak_concurrency": r["peak"]})  # fmt: skip
        _say(runs[-1])
    from benchmarks import migration_tasks

    def send(payload: dict[str, Any]) -> None:
        migration_tasks.send_welcome.delay(payload["to"], name=payload["name"])

    with common.redis_server() as url:
        for pool, conc in (("prefork", cfg["prefork"]), ("threads", c)):
            r = celery_burst(n, latency, url, pool=pool, concurrency=conc,
                             module="benchmarks.migration_tasks", send=send)  # fmt: skip
            r["concurrency"] = conc
            r.pop("timeline", None)
            runs.append(r)
            _say(r)
    for r in runs:
        r["ideal_drain_s"] = n * latency / r["concurrency"]
        r["vs_ideal"] = r["drain_s"] / r["ideal_drain_s"]
    by = {r["system"].split(" C=")[0].split(" x")[0]: r for r in runs}
    a, b = by["tayori option A"], by["tayori option B"]
    prefork, threads = by["celery prefork"], by["celery threads"]
    ratios = {
        f"drain_celery_prefork_{cfg['prefork']}_over_option_A": prefork["drain_s"] / a["drain_s"],
        f"drain_celery_prefork_{cfg['prefork']}_over_option_B": prefork["drain_s"] / b["drain_s"],
        f"drain_celery_threads_{c}_over_option_A": threads["drain_s"] / a["drain_s"],
        f"drain_celery_threads_{c}_over_option_B": threads["drain_s"] / b["drain_s"],
        "drain_option_B_over_option_A": b["drain_s"] / a["drain_s"],
    }
    plot(runs, n, latency_ms, smoke)
    data = {"tasks": n, "latency_ms": latency_ms, "runs": runs, "ratios": ratios}
    path = common.write_result("celery_migration", data, smoke)
    print(f"wrote {path}")
    return data


def _say(r: dict[str, Any]) -> None:
    print(f"{r['system']:<26} enqueue {r['enqueue_s']:7.2f}s  drain {r['drain_s']:7.2f}s  "
          f"sent {r['sent_unique']}", flush=True)  # fmt: skip


def plot(runs: list[dict[str, Any]], n: int, latency_ms: float, smoke: bool) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = [r["system"] for r in runs]
    ax.barh(names, [r["drain_s"] for r in runs], color="#4a7ab5")
    for i, r in enumerate(runs):
        ax.text(r["drain_s"], i, f" {r['drain_s']:.1f}s", va="center")
    ax.set_xlabel("drain time (s), lower is better")
    ax.set_title(f"One Celery task module, {n:,} tasks x {latency_ms:g} ms")
    fig.tight_layout()
    fig.savefig(common.plot_path("celery_migration", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument("--child", choices=["a", "b"], help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("tayori").setLevel(logging.ERROR)
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            fn = child_a if args.child == "a" else child_b
            result = fn(args.tasks, args.concurrency, Path(tmp))
        Path(args.out).write_text(json.dumps(result))
        return
    run(args.smoke)


if __name__ == "__main__":
    main()
