"""Benchmark 1: a 10,000-email burst, tayori embedded vs Celery 5 on Redis.

Every "send" is ``common.simulated_send`` (sleep 50 ms, record the recipient) in both.
Celery: 10 prefork workers (acks_late, prefetch 1) and the threads pool at tayori's top
concurrency. tayori: the local runtime at concurrency 50 / 100 / 200. Reports enqueue
and drain time, ratios between them measured in the same run, the ratio to the ideal
bound N x latency / concurrency, and the planner's prediction for each tayori run.
The enqueue target is measured on its own: 5 alternating pairs of ``send_many`` and
Celery's ``.delay`` loop (10,000 each), ratio of the medians.

    python -m benchmarks.broadcast_vs_celery [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import statistics
from typing import Any

from benchmarks import common
from benchmarks.runners import celery_burst, enqueue_pairs, tayori_burst

# "processes": the top concurrency is also run split over that many worker processes
# (``tayori worker --processes 2 --concurrency 100``), which uses both cores.
FULL = {
    "emails": 10_000,
    "latency_ms": 50.0,
    "tayori": [50, 100, 200],
    "processes": 2,
    "prefork": 10,
    "enqueue_repeats": 5,
}
SMOKE = {
    "emails": 200,
    "latency_ms": 5.0,
    "tayori": [20],
    "processes": 2,
    "prefork": 2,
    "enqueue_repeats": 2,
}


def run(smoke: bool, emails: int | None = None, latency_ms: float | None = None) -> dict:
    from tayori.plan import PlanInput, plan

    cfg = dict(SMOKE if smoke else FULL)
    n = emails or cfg["emails"]
    latency_ms = latency_ms or cfg["latency_ms"]
    latency = latency_ms / 1000
    top = max(cfg["tayori"])
    runs: list[dict[str, Any]] = []
    for c, processes in [*((c, 1) for c in cfg["tayori"]), (top, cfg["processes"])]:
        r = tayori_burst(n, latency, c, processes=processes)
        r["concurrency"] = c
        r["predicted_drain_s"] = plan(
            PlanInput(
                emails=n,
                provider_rate=None,
                latency_ms=latency_ms,
                embedded_concurrency=c,
                embedded_processes=processes,
            )
        ).embedded["drain_s"]
        runs.append(r)
        _say(r)
    with common.redis_server() as url:
        for pool, c in (("prefork", cfg["prefork"]), ("threads", top)):
            r = celery_burst(n, latency, url, pool=pool, concurrency=c)
            r["concurrency"] = c
            runs.append(r)
            _say(r)
        enqueue = enqueue_pairs(n, url, cfg["enqueue_repeats"])
    enqueue_medians = {k: statistics.median(v) for k, v in enqueue.items()}
    enqueue_ratio = enqueue_medians["celery_delay_loop_s"] / enqueue_medians["tayori_send_many_s"]
    print(
        f"enqueue only, {cfg['enqueue_repeats']} alternating pairs: send_many "
        f"{enqueue_medians['tayori_send_many_s']:.3f}s, .delay loop "
        f"{enqueue_medians['celery_delay_loop_s']:.2f}s (median): {enqueue_ratio:.1f}x"
    )
    for r in runs:
        r["ideal_drain_s"] = n * latency / r["concurrency"]
        r["vs_ideal"] = r["drain_s"] / r["ideal_drain_s"]
        if "predicted_drain_s" in r:
            r["prediction_error"] = abs(r["predicted_drain_s"] - r["drain_s"]) / r["drain_s"]

    prefork = next(r for r in runs if r["system"].startswith("celery prefork"))
    threads = next(r for r in runs if r["system"].startswith("celery threads"))
    # the faster of the two ways to run the top concurrency (one process or several)
    best = min(
        (r for r in runs if r["system"].startswith(f"tayori C={top}")), key=lambda r: r["drain_s"]
    )
    ratios = {
        f"drain_celery_prefork_{cfg['prefork']}_over_tayori_C{top}": prefork["drain_s"]
        / best["drain_s"],
        f"drain_celery_threads_{top}_over_tayori_C{top}": threads["drain_s"] / best["drain_s"],
        f"tayori_C{top}_over_ideal": best["vs_ideal"],
        # the target's figure: medians of the alternating enqueue-only pairs
        "enqueue_celery_delay_loop_over_tayori_send_many": enqueue_ratio,
        # one sample each, from the drain runs above (as reported before the pairs)
        "enqueue_one_sample_prefork_over_fastest_drain_run": prefork["enqueue_s"]
        / best["enqueue_s"],
    }
    for r in runs:
        if r["system"].startswith("tayori"):
            ratios[f"drain_celery_prefork_over_{r['system'].replace(' ', '_')}"] = (
                prefork["drain_s"] / r["drain_s"]
            )
    # issue 14's targets (ratios in one run on the same machine)
    targets = {
        f"tayori_C{top}_within_1.25x_ideal": best["vs_ideal"] <= 1.25,
        "7x_faster_than_celery_threads": ratios[f"drain_celery_threads_{top}_over_tayori_C{top}"]
        >= 7,
        "17x_faster_than_celery_prefork": ratios[
            f"drain_celery_prefork_{cfg['prefork']}_over_tayori_C{top}"
        ]
        >= 17,
        "enqueue_20x_faster_than_delay_loop": ratios[
            "enqueue_celery_delay_loop_over_tayori_send_many"
        ]
        >= 20,
    }
    plot(runs, n, latency_ms, smoke)
    summary = [{k: v for k, v in r.items() if k != "timeline"} for r in runs]
    data = {
        "emails": n,
        "latency_ms": latency_ms,
        "runs": summary,
        "enqueue_pairs": {**enqueue, "median_s": enqueue_medians},
        "ratios": ratios,
        "ratios_use": best["system"],
        "targets_met": targets,
        "timelines": {r["system"]: r["timeline"] for r in runs},
    }
    path = common.write_result("broadcast_vs_celery", data, smoke)
    print(f"wrote {path}")
    return data


def _say(r: dict) -> None:
    print(
        f"{r['system']:<24} enqueue {r['enqueue_s']:7.2f}s  drain {r['drain_s']:7.2f}s  "
        f"sent {r['sent_unique']}",
        flush=True,
    )


def plot(runs: list[dict], n: int, latency_ms: float, smoke: bool) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    for r in runs:
        ts = [p[0] for p in r["timeline"]]
        ax.plot(ts, [p[1] for p in r["timeline"]], label=f"{r['system']} ({r['drain_s']:.1f}s)")
    ax.set_xlabel("seconds since consumers started")
    ax.set_ylabel("emails not yet sent")
    ax.set_title(f"{n:,} emails, {latency_ms:g} ms per send: the mountain and the spike")
    ax.legend()
    fig.tight_layout()
    fig.savefig(common.plot_path("broadcast_vs_celery", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument("--emails", type=int)
    parser.add_argument("--latency-ms", type=float)
    args = parser.parse_args()
    logging.getLogger("tayori").setLevel(logging.ERROR)
    run(args.smoke, args.emails, args.latency_ms)


if __name__ == "__main__":
    main()
