"""Benchmark (issue 14, target 6): records of one invocation side by side.

Lambda bills an invocation's duration. A batch of 10 sends x 50 ms run one after
another costs ~10 x 50 ms; with ``@app.task(concurrency=10)`` it should cost about one
record's time (target: <= 1.5x). Both modes drain the same queue through the local
runtime in one run; the invocation durations are timed around the handler, as
Lambda's billing would time them.

    python -m benchmarks.in_invocation [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import common

LATENCY_S = 0.05
BATCH = 10
MEMORY_GB = 0.5


def run_mode(concurrency: int, batches: int, tmp: Path) -> dict[str, Any]:
    import tayori
    from tayori.runtime.local import RuntimeConfig

    app = tayori.App(
        f"inv{concurrency}",
        settings=tayori.Settings(
            url=f"sqlite:///{tmp / f'c{concurrency}'}", visibility_timeout=180
        ),
    )
    sent: list[int] = []
    finished: list[float] = []
    lock = threading.Lock()

    @app.task(queue="mail", idempotency_key="n", concurrency=concurrency)
    def send(p: dict) -> None:
        time.sleep(LATENCY_S)  # the provider's latency: I/O, not CPU
        with lock:
            sent.append(p["n"])
            finished.append(time.perf_counter())

    durations: list[float] = []

    def timed(event: dict, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return app.lambda_handler(event, context)
        finally:
            with lock:
                durations.append(time.perf_counter() - started)

    n = batches * BATCH
    send.send_many({"n": i} for i in range(n))
    config = RuntimeConfig(
        concurrency=1, initial_concurrency=1, batch_size=BATCH, batching_window=1.0
    )
    started = time.perf_counter()
    stats = app.runtime(config, handler=timed).run_until_idle(timeout=600)
    drain = time.perf_counter() - started  # incl. the runtime's idle detection
    last_send = max(finished) - started  # what the planner's drain_s is
    app.backend.close()
    full = list(durations)  # every invocation, as billed
    billed_gb_s = sum(full) * MEMORY_GB
    return {
        "record_concurrency": concurrency,
        "records": n,
        "sent_unique": len(set(sent)),
        "invocations": stats.invocations,
        "median_invocation_s": round(statistics.median(full), 4),
        "mean_invocation_s": round(statistics.fmean(full), 4),
        "median_over_one_record": round(statistics.median(full) / LATENCY_S, 2),
        "billed_gb_s": round(billed_gb_s, 3),
        "drain_s": round(drain, 2),
        "last_send_s": round(last_send, 3),
        "planner": predicted(n, concurrency, last_send, billed_gb_s),
        "durations": [round(d, 4) for d in full],
    }


def predicted(n: int, concurrency: int, drain: float, billed_gb_s: float) -> dict[str, Any]:
    """What `tayori plan --task-concurrency` predicts for this run, and its error against
    ``drain`` (start to the last send) and the billed GB-seconds."""
    from tayori.plan import PlanInput, plan

    emb = plan(
        PlanInput(
            emails=n,
            provider_rate=None,
            latency_ms=LATENCY_S * 1000,
            batch_size=BATCH,
            embedded_concurrency=1,
            task_concurrency=concurrency,
        )
    ).embedded
    gb_s = emb["busy_s"] * MEMORY_GB
    return {
        "drain_s": round(emb["drain_s"], 3),
        "billed_gb_s": round(gb_s, 3),
        "mean_invocation_s": round(emb["busy_s"] / emb["invocations"], 4),
        "drain_error": round((emb["drain_s"] - drain) / drain, 3),
        "billed_error": round((gb_s - billed_gb_s) / billed_gb_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run (CI): correctness only")
    parser.add_argument("--batches", type=int, default=30, help="batches of 10 records per mode")
    args = parser.parse_args()
    batches = 3 if args.smoke else args.batches
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run_mode(c, batches, Path(tmp)) for c in (1, 10)]
    seq, par = runs
    ratios = {
        "invocation_speedup": round(seq["median_invocation_s"] / par["median_invocation_s"], 2),
        "billed_gb_s_ratio": round(seq["billed_gb_s"] / par["billed_gb_s"], 2),
    }
    met = ["batch_of_10_within_1_5x_one_record"] if par["median_over_one_record"] <= 1.5 else []
    data = {
        "latency_s": LATENCY_S,
        "batch_size": BATCH,
        "runs": runs,
        "ratios": ratios,
        "targets_met": met,
    }
    common.write_result("in_invocation", data, args.smoke)
    plot(runs, common.plot_path("in_invocation", args.smoke))
    for r in runs:
        print(
            f"concurrency {r['record_concurrency']:>2}: median invocation "
            f"{r['median_invocation_s'] * 1000:.0f} ms ({r['median_over_one_record']}x one "
            f"record), billed {r['billed_gb_s']} GB-s, last send {r['last_send_s']} s; planner "
            f"{r['planner']['billed_gb_s']} GB-s ({r['planner']['billed_error']:+.0%}), "
            f"{r['planner']['drain_s']} s ({r['planner']['drain_error']:+.0%})"
        )
    print(f"ratios: {ratios}; targets met: {met}")


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in runs:
        ms = [d * 1000 for d in r["durations"]]
        ax.plot(
            range(1, len(ms) + 1), ms, marker="o", label=f"concurrency {r['record_concurrency']}"
        )
    ax.axhline(LATENCY_S * 1000, color="grey", linestyle=":", label="one record (50 ms)")
    ax.axhline(LATENCY_S * 1500, color="red", linestyle="--", label="target: 1.5x one record")
    ax.set_xlabel("invocation")
    ax.set_ylabel("invocation duration (ms)")
    ax.set_yscale("log")
    ax.set_title("A batch of 10 x 50 ms sends, one after another vs side by side")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
