"""Benchmark 3: achieved send rate against a provider limit of 14/s, 100/s and 1,000/s.

A broadcast through ``tayori.mail.Mailer`` with ``rate_limit=R`` (the shared SQLite
token bucket) to a ``SimulatedProvider`` that enforces the same R like SES's max send
rate (its own bucket; over the rate it refuses and counts a throttle). Achieved rate =
deliveries / (last - first delivery); the target is >= 98% of R with 0 throttles.

    python -m benchmarks.rate_limit [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import common

FULL = {"rates": [14, 100, 1000], "seconds": 8.0}
SMOKE = {"rates": [50], "seconds": 1.0}
TEMPLATES = {"n.subject": "News for {{ name }}", "n.txt": "Hello {{ name }}\n"}


def _build(tmp: str, rate: float, latency_s: float) -> tuple[Any, Any, Any]:
    """The app, Mailer and provider; every worker process builds the same on the same dir."""
    import tayori
    from tayori.mail import Mailer, Templates
    from tayori.testing import SimulatedProvider

    app = tayori.App("bench", settings=tayori.Settings(url=f"sqlite:///{tmp}/q"))
    provider = SimulatedProvider(rate=rate, latency=latency_s, directory=Path(tmp) / "prov")
    mailer = Mailer(
        app,
        transport=provider,
        templates=Templates(sources=TEMPLATES),
        sender="news@example.com",
        rate_limit=rate,  # the shared SQLite token bucket: one limit across processes
    )
    return app, mailer, provider


def _drain(tmp: str, rate: float, latency_s: float, concurrency: int, timeout: float) -> int:
    from tayori.runtime.local import RuntimeConfig

    logging.getLogger("tayori").setLevel(logging.ERROR)
    app, _, _ = _build(tmp, rate, latency_s)
    config = RuntimeConfig(  # as `tayori worker` runs it (one claimed CPU per process)
        concurrency=concurrency, batch_size=10, function_timeout=10.0, pin_cpu=True
    )
    return app.runtime(config).run_until_idle(timeout=timeout).failed_records


def one_rate(rate: float, seconds: float, latency_s: float = 0.02) -> dict[str, Any]:
    """One broadcast at limit ``rate``; above 300/s the workers run as 2 processes
    (``tayori worker --processes 2``), since one process's mail path tops out near there."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    n = max(20, int(rate * seconds))
    processes = 2 if rate > 300 else 1
    concurrency = int(min(200, max(10, math.ceil(rate * (latency_s + 0.01)) * 3))) // processes
    timeout = seconds * 10 + 60
    with tempfile.TemporaryDirectory() as tmp:
        _, mailer, provider = _build(tmp, rate, latency_s)
        recipients = ({"email": f"u{i}@example.com", "name": f"U{i}"} for i in range(n))
        mailer.broadcast("n", recipients)
        if processes == 1:
            failed = _drain(tmp, rate, latency_s, concurrency, timeout)
        else:
            with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
                futures = [
                    pool.submit(_drain, tmp, rate, latency_s, concurrency, timeout)
                    for _ in range(processes)
                ]
                failed = sum(f.result() for f in futures)
        deliveries = provider.deliveries()
        throttled = provider.throttled
    times = sorted(d.at for d in deliveries)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    achieved = (len(times) - 1) / span if span and span > 0 else float("nan")
    unique = len({d.recipient for d in deliveries})
    return {
        "limit_per_s": rate,
        "emails": n,
        "delivered": len(deliveries),
        "unique_recipients": unique,
        "processes": processes,
        "concurrency": concurrency * processes,
        "achieved_per_s": achieved,
        "fraction_of_limit": achieved / rate,
        "throttled": throttled,
        "runtime_failed_records": failed,
        "timeline": _per_second(times),
    }


def _per_second(times: list[float]) -> list[tuple[float, int]]:
    if not times:
        return []
    t0 = times[0]
    counts: dict[int, int] = {}
    for t in times:
        counts[int((t - t0) * 4)] = counts.get(int((t - t0) * 4), 0) + 1
    return [(k / 4, v * 4) for k, v in sorted(counts.items())]  # sends/s in 250 ms bins


def run(smoke: bool) -> dict:
    cfg = SMOKE if smoke else FULL
    results = []
    for rate in cfg["rates"]:
        r = one_rate(rate, cfg["seconds"])
        results.append(r)
        print(
            f"limit {rate:6g}/s: achieved {r['achieved_per_s']:8.1f}/s "
            f"({r['fraction_of_limit']:.1%}), throttled {r['throttled']}, "
            f"delivered {r['delivered']}/{r['emails']}",
            flush=True,
        )
    targets = {
        "rate_at_least_98pct": all(r["fraction_of_limit"] >= 0.98 for r in results),
        "zero_throttles": all(r["throttled"] == 0 for r in results),
    }
    plot(results, smoke)
    data = {"runs": results, "targets_met": targets}
    path = common.write_result("rate_limit", data, smoke)
    print(f"wrote {path}")
    return data


def plot(results: list[dict], smoke: bool) -> None:
    plt = common.pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        ax.plot([p[0] for p in r["timeline"]], [p[1] for p in r["timeline"]], label="achieved")
        ax.axhline(r["limit_per_s"], color="red", ls="--", label="limit")
        ax.set_title(f"limit {r['limit_per_s']:g}/s: {r['fraction_of_limit']:.1%}")
        ax.set_xlabel("seconds")
        ax.set_ylabel("sends / s (250 ms bins)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(common.plot_path("rate_limit", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    args = parser.parse_args()
    logging.getLogger("tayori").setLevel(logging.ERROR)
    run(args.smoke)


if __name__ == "__main__":
    main()
