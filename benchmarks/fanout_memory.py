"""Benchmark 4: a 1,000,000-recipient broadcast end to end: time and peak RSS.

Fresh processes, each reporting its own peak RSS (``ru_maxrss``):
- producer: ``Mailer.broadcast(template, read_file("recipients.csv"))`` — the list is
  streamed into 1,000-recipient chunks in the blob store, one message is enqueued;
- workers: ``--processes`` (default 2, one per core) local runtimes at ``--concurrency``
  in total (default 20: ``tayori worker --processes 2`` with its default 10 each) on that
  queue with a no-op transport: the fan-out splits chunks into per-recipient sends and
  the sends run; each stops when the queue is idle or after ``--worker-seconds``;
- a baseline that imports the same modules and does nothing (the interpreter's floor).

End to end = producer time + the workers' wall time until the last one is idle; the
mail store's count of ``sent`` outcomes is read back to check that every recipient got
exactly one send. Targets: <= 5 minutes end to end, < 200 MB per process.

    python -m benchmarks.fanout_memory [--smoke] [--processes P] [--concurrency C]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common

TEMPLATES = {"n.subject": "News for {{ name }}", "n.txt": "Hello {{ name }}\n"}


class NullTransport:
    """Accepts every message and keeps nothing (memory must not grow with sends)."""

    def send(self, message: Any) -> str:
        return "null"

    def close(self) -> None:
        pass


def _mailer(directory: str) -> Any:
    import tayori
    from tayori.mail import Mailer, Templates

    app = tayori.App("bench", settings=tayori.Settings(url=f"sqlite:///{directory}/q"))
    mailer = Mailer(
        app, transport=NullTransport(), templates=Templates(sources=TEMPLATES), sender="n@e.com"
    )
    return app, mailer


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def role_baseline(directory: str) -> dict[str, Any]:
    _mailer(directory)
    from tayori.runtime.local import LocalRuntime  # noqa: F401

    return {"peak_rss_mb": _peak_mb()}


def role_producer(directory: str, path: str) -> dict[str, Any]:
    from tayori.mail.recipients import read_file

    _, mailer = _mailer(directory)
    t = time.perf_counter()
    bid = mailer.broadcast("n", read_file(path))
    return {"peak_rss_mb": _peak_mb(), "seconds": time.perf_counter() - t, "broadcast_id": bid}


def role_worker(directory: str, seconds: float, concurrency: int = 50) -> dict[str, Any]:
    import logging

    from tayori.runtime.local import RuntimeConfig

    logging.getLogger("tayori").setLevel(logging.ERROR)
    app, _ = _mailer(directory)
    config = RuntimeConfig(  # as `tayori worker` runs it (one claimed CPU per process)
        concurrency=concurrency, batch_size=10, function_timeout=60.0, pin_cpu=True
    )
    cpu0 = os.times()
    stats = app.runtime(config).run_until_idle(timeout=seconds)
    cpu1 = os.times()
    return {
        "peak_rss_mb": _peak_mb(),
        "seconds": stats.elapsed_s,
        "ended_at": time.time(),
        "cpu_s": cpu1.user + cpu1.system - cpu0.user - cpu0.system,
        "records_processed": stats.records,
        "idle": stats.idle,
    }


def role_check(directory: str, broadcast_id: str) -> dict[str, Any]:
    app, mailer = _mailer(directory)
    status = mailer.status(broadcast_id)
    return {
        "total": status.total if status else None,
        "sent": status.sent if status else 0,
        "failed": status.failed if status else 0,
        "left_in_queue": app.queue("mail").stats().total,
    }


def _start(role: str, *args: str) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fanout_memory", "--role", role, *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(role: str, proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{role} failed: {err.strip()[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _child(role: str, *args: str) -> dict[str, Any]:
    return _result(role, _start(role, *args))


def run(
    smoke: bool,
    recipients: int | None,
    worker_seconds: float | None,
    processes: int = 2,
    concurrency: int = 20,
) -> dict:
    n = recipients or (5_000 if smoke else 1_000_000)
    seconds = worker_seconds or (60.0 if smoke else 900.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipients.csv"
        with path.open("w") as f:
            f.write("email,name\n")
            for i in range(n):
                f.write(f"user{i}@example.com,User {i}\n")
        file_mb = path.stat().st_size / 1e6
        baseline = _child("baseline", tmp)
        producer = _child("producer", tmp, str(path))
        started = time.time()
        per = str(max(1, concurrency // processes))
        procs = [_start("worker", tmp, str(seconds), per) for _ in range(processes)]
        workers = [_result("worker", p) for p in procs]
        workers_s = max(w["ended_at"] for w in workers) - started
        check = _child("check", tmp, producer["broadcast_id"])
    end_to_end = producer["seconds"] + workers_s
    worker = max(workers, key=lambda w: w["peak_rss_mb"])
    print(
        f"baseline {baseline['peak_rss_mb']:.0f} MB, producer {producer['peak_rss_mb']:.0f} MB"
        f" ({producer['seconds']:.1f}s), workers {[round(w['peak_rss_mb']) for w in workers]} MB,"
        f" {sum(w['records_processed'] for w in workers)} records in {workers_s:.0f}s; "
        f"sent {check['sent']}/{n}; end to end {end_to_end:.0f}s",
        flush=True,
    )
    data = {
        "recipients": n,
        "file_mb": file_mb,
        "processes": processes,
        "concurrency": concurrency,
        "baseline": baseline,
        "producer": producer,
        "worker": worker,
        "workers": workers,
        "workers_s": workers_s,
        "end_to_end_s": end_to_end,
        "check": check,
        "targets_met": {
            "producer_under_200mb": producer["peak_rss_mb"] < 200,
            "worker_under_200mb": all(w["peak_rss_mb"] < 200 for w in workers),
            "every_recipient_sent_once": check["sent"] == n and check["left_in_queue"] == 0,
            "end_to_end_under_5_minutes": end_to_end <= 300,
        },
    }
    path_out = common.write_result("fanout_memory", data, smoke)
    plot(data, smoke)
    print(f"wrote {path_out}")
    return data


def plot(data: dict, smoke: bool) -> None:
    plt = common.pyplot()
    fig, (ax, tx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    names = ["baseline (imports)", "producer"]
    names += [f"worker {i}" for i in range(len(data["workers"]))]
    values = [data["baseline"]["peak_rss_mb"], data["producer"]["peak_rss_mb"]]
    values += [w["peak_rss_mb"] for w in data["workers"]]
    ax.bar(names, values, color=["gray", "tab:blue"] + ["tab:orange"] * len(data["workers"]))
    ax.axhline(200, color="red", ls="--", label="target 200 MB")
    ax.set_ylabel("peak RSS (MB)")
    ax.set_title(f"{data['recipients']:,} recipients from a {data['file_mb']:.0f} MB file")
    ax.legend()
    tx.bar(
        ["producer", "workers"],
        [data["producer"]["seconds"], data["workers_s"]],
        color=["tab:blue", "tab:orange"],
    )
    tx.axhline(300, color="red", ls="--", label="target 5 min end to end")
    tx.set_ylabel("seconds")
    tx.set_title(f"end to end {data['end_to_end_s']:.0f} s ({data['processes']} processes)")
    tx.legend()
    fig.tight_layout()
    fig.savefig(common.plot_path("fanout_memory", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument("--recipients", type=int)
    parser.add_argument("--worker-seconds", type=float)
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--concurrency", type=int, default=20, help="in total, split (tayori worker's 10 each)"
    )
    parser.add_argument("--role", choices=["baseline", "producer", "worker", "check"])
    parser.add_argument("args", nargs="*")
    args = parser.parse_args()
    if args.role == "baseline":
        print(json.dumps(role_baseline(args.args[0])))
    elif args.role == "producer":
        print(json.dumps(role_producer(args.args[0], args.args[1])))
    elif args.role == "worker":
        import faulthandler

        faulthandler.dump_traceback_later(float(args.args[1]) + 90, exit=True)
        print(json.dumps(role_worker(args.args[0], float(args.args[1]), int(args.args[2]))))
    elif args.role == "check":
        print(json.dumps(role_check(args.args[0], args.args[1])))
    else:
        run(args.smoke, args.recipients, args.worker_seconds, args.processes, args.concurrency)


if __name__ == "__main__":
    main()
