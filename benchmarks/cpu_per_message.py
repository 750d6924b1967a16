"""Benchmark 6: CPU per message through the local runtime, no-op task.

N no-op messages (each with an idempotency key) are enqueued with ``send_many``, then
``tayori.runtime.local.LocalRuntime`` drains them: receive -> ``app.lambda_handler``
(Powertools batch processing, SQLite idempotency lock, task, completion) -> delete.
CPU = user + system time of this process (every thread) from the runtime's start to
the moment the last message is deleted, divided by N. Each concurrency is run
``--repeat`` times in a fresh store; the median counts. ``--profile`` adds one run
under yappi (CPU clock, every thread) and keeps the top functions in the JSON.

    python -m benchmarks.cpu_per_message [--smoke] [--profile]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import threading
import time
from typing import Any

from benchmarks import common

TARGET_MS = 0.15
FULL = {"messages": 20_000, "concurrency": [1, 10, 50], "repeat": 3}
SMOKE = {"messages": 300, "concurrency": [1, 10], "repeat": 1}


def _app(directory: str) -> tuple[Any, Any]:
    import tayori
    from tayori.backends.sqlite import SqliteBackend

    app = tayori.App("bench", backend=SqliteBackend(directory))

    @app.task(queue="cpu", idempotency_key="id")
    def noop(payload: dict) -> None:
        return None

    return app, noop


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def one_run(
    messages: int, concurrency: int, profile: bool = False, pin_cpu: bool = True
) -> dict[str, Any]:
    """Drain ``messages`` no-op messages at ``concurrency``; CPU until the last delete.
    ``pin_cpu``: the runtime's threads on one claimed CPU, as ``tayori worker`` runs."""
    from tayori.runtime.local import RuntimeConfig

    with tempfile.TemporaryDirectory() as tmp:
        app, noop = _app(tmp)
        noop.send_many({"id": f"m{i}"} for i in range(messages))
        app.lambda_handler({"Records": []}, None)  # imports done before the clock starts
        config = RuntimeConfig(
            concurrency=concurrency,
            batch_size=10,
            initial_concurrency=min(concurrency, 5),
            poll_wait_seconds=1,
            pin_cpu=pin_cpu,
        )
        runtime = app.runtime(config)
        marks: dict[str, float] = {}

        def watch() -> None:  # samples every 5 ms: a negligible share of the CPU
            while runtime.stats.deleted < messages and "stop" not in marks:
                time.sleep(0.005)
            marks["cpu"], marks["wall"] = _cpu(), time.perf_counter()

        watcher = threading.Thread(target=watch, daemon=True)
        if profile:
            import yappi

            yappi.set_clock_type("cpu")
            yappi.clear_stats()
            yappi.start()
        cpu0, wall0 = _cpu(), time.perf_counter()
        watcher.start()
        try:
            stats = runtime.run_until_idle(timeout=600)
        finally:
            marks["stop"] = 1.0
            watcher.join()
            if profile:
                yappi.stop()
        out: dict[str, Any] = {
            "messages": messages,
            "concurrency": concurrency,
            "pin_cpu": pin_cpu,
            "deleted": stats.deleted,
            "failed_records": stats.failed_records,
            "wall_s": marks["wall"] - wall0,
            "cpu_s": marks["cpu"] - cpu0,
            "cpu_ms_per_message": (marks["cpu"] - cpu0) / messages * 1000,
        }
        if profile:
            out["profile"] = _top_functions(messages)
        return out


def _top_functions(messages: int, limit: int = 40) -> list[dict[str, Any]]:
    """yappi's per-function CPU (inclusive and own), in microseconds per message."""
    import yappi

    stats = yappi.get_func_stats()
    stats.sort("ttot")
    rows = []
    for s in list(stats)[: limit * 3]:
        name = f"{s.module.rsplit('site-packages/', 1)[-1].rsplit('/src/', 1)[-1]}:{s.name}"
        rows.append(
            {
                "function": name,
                "calls": s.ncall,
                "inclusive_us_per_msg": round(s.ttot * 1e6 / messages, 1),
                "own_us_per_msg": round(s.tsub * 1e6 / messages, 1),
            }
        )
    return rows[:limit]


def run(smoke: bool, profile: bool, repeat: int | None) -> dict:
    cfg = SMOKE if smoke else FULL
    runs: dict[str, Any] = {}
    # pinned (as `tayori worker` runs) and not (a runtime inside an app's own process)
    for pin_cpu in (True, False):
        for concurrency in cfg["concurrency"]:
            _measure(runs, cfg["messages"], concurrency, pin_cpu, repeat or cfg["repeat"])
    data: dict[str, Any] = {"runs": runs, "target_ms": TARGET_MS}
    if profile:
        data["profile_c10"] = one_run(cfg["messages"], 10, profile=True)["profile"]
    data["targets_met"] = {
        "c10_at_most_0_15_ms": runs.get("10", {}).get("median_cpu_ms_per_message", 1e9) <= TARGET_MS
    }
    path = common.write_result("cpu_per_message", data, smoke)
    plot(data, smoke)
    print(f"wrote {path}")
    return data


def _measure(runs: dict[str, Any], n: int, concurrency: int, pin_cpu: bool, repeat: int) -> None:
    tries = [one_run(n, concurrency, pin_cpu=pin_cpu) for _ in range(repeat)]
    median = statistics.median(t["cpu_ms_per_message"] for t in tries)
    name = str(concurrency) if pin_cpu else f"{concurrency} unpinned"
    runs[name] = {"tries": tries, "median_cpu_ms_per_message": median, "pin_cpu": pin_cpu}
    print(
        f"C={name:>3}: {median:.3f} ms CPU per message (median of {len(tries)}: "
        + ", ".join(f"{t['cpu_ms_per_message']:.3f}" for t in tries)
        + f"), wall {statistics.median(t['wall_s'] for t in tries):.2f} s",
        flush=True,
    )


def plot(data: dict, smoke: bool) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(data["runs"])
    medians = [data["runs"][c]["median_cpu_ms_per_message"] for c in names]
    labels = [f"C={c}".replace(" unpinned", "\nunpinned") for c in names]
    colors = ["tab:gray" if "unpinned" in c else "tab:blue" for c in names]
    ax.bar(labels, medians, color=colors)
    for i, c in enumerate(names):
        for t in data["runs"][c]["tries"]:
            ax.plot(i, t["cpu_ms_per_message"], "k.", ms=4)
    ax.axhline(data["target_ms"], color="red", ls="--", label=f"target {data['target_ms']} ms")
    ax.set_ylabel("CPU ms per message (user + sys)")
    ax.set_title("no-op task through the local runtime (dots: each try)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(common.plot_path("cpu_per_message", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument("--profile", action="store_true", help="add a yappi profile at C=10")
    parser.add_argument("--repeat", type=int, help="tries per concurrency (median counts)")
    args = parser.parse_args()
    logging.getLogger("tayori").setLevel(logging.ERROR)
    run(args.smoke, args.profile, args.repeat)


if __name__ == "__main__":
    main()
