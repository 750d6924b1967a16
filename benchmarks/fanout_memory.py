"""Benchmark 4: peak RSS of a 1,000,000-recipient broadcast streamed from a file.

Three fresh processes, each reporting its own peak RSS (``ru_maxrss``):
- producer: ``Mailer.broadcast(template, read_file("recipients.csv"))`` — the list is
  streamed into 1,000-recipient chunks in the blob store, one message is enqueued;
- worker: the local runtime at concurrency 50 on that queue with a no-op transport:
  the fan-out splits chunks into per-recipient sends and the sends run; it stops when
  the queue is idle or after ``--worker-seconds`` (sending all 1M takes minutes on 2
  cores; the fan-out itself, where memory could grow with the list, finishes first);
- a baseline that imports the same modules and does nothing (the interpreter's floor).

    python -m benchmarks.fanout_memory [--smoke]
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


def role_worker(directory: str, seconds: float) -> dict[str, Any]:
    import logging

    from tayori.runtime.local import RuntimeConfig

    logging.getLogger("tayori").setLevel(logging.ERROR)
    app, _ = _mailer(directory)
    config = RuntimeConfig(concurrency=50, batch_size=10, function_timeout=60.0)
    stats = app.runtime(config).run_until_idle(timeout=seconds)
    depth = app.queue("mail").stats()
    return {
        "peak_rss_mb": _peak_mb(),
        "seconds": stats.elapsed_s,
        "records_processed": stats.records,
        "idle": stats.idle,
        "left_in_queue": depth.total,
    }


def _child(role: str, *args: str) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fanout_memory", "--role", role, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{role} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(smoke: bool, recipients: int | None, worker_seconds: float | None) -> dict:
    n = recipients or (5_000 if smoke else 1_000_000)
    seconds = worker_seconds or (60.0 if smoke else 120.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipients.csv"
        with path.open("w") as f:
            f.write("email,name\n")
            for i in range(n):
                f.write(f"user{i}@example.com,User {i}\n")
        file_mb = path.stat().st_size / 1e6
        baseline = _child("baseline", tmp)
        producer = _child("producer", tmp, str(path))
        worker = _child("worker", tmp, str(seconds))
    print(
        f"baseline {baseline['peak_rss_mb']:.0f} MB, producer {producer['peak_rss_mb']:.0f} MB"
        f" ({producer['seconds']:.1f}s), worker {worker['peak_rss_mb']:.0f} MB "
        f"({worker['records_processed']} records in {worker['seconds']:.0f}s)",
        flush=True,
    )
    data = {
        "recipients": n,
        "file_mb": file_mb,
        "baseline": baseline,
        "producer": producer,
        "worker": worker,
        "targets_met": {
            "producer_under_200mb": producer["peak_rss_mb"] < 200,
            "worker_under_200mb": worker["peak_rss_mb"] < 200,
        },
    }
    plot(data, smoke)
    path_out = common.write_result("fanout_memory", data, smoke)
    print(f"wrote {path_out}")
    return data


def plot(data: dict, smoke: bool) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = ["baseline (imports)", "producer", "worker"]
    values = [data[k]["peak_rss_mb"] for k in ("baseline", "producer", "worker")]
    ax.bar(names, values, color=["gray", "tab:blue", "tab:orange"])
    ax.axhline(200, color="red", ls="--", label="target 200 MB")
    ax.set_ylabel("peak RSS (MB)")
    ax.set_title(f"{data['recipients']:,}-recipient broadcast from a {data['file_mb']:.0f} MB file")
    ax.legend()
    fig.tight_layout()
    fig.savefig(common.plot_path("fanout_memory", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument("--recipients", type=int)
    parser.add_argument("--worker-seconds", type=float)
    parser.add_argument("--role", choices=["baseline", "producer", "worker"])
    parser.add_argument("args", nargs="*")
    args = parser.parse_args()
    if args.role == "baseline":
        print(json.dumps(role_baseline(args.args[0])))
    elif args.role == "producer":
        print(json.dumps(role_producer(args.args[0], args.args[1])))
    elif args.role == "worker":
        import faulthandler

        faulthandler.dump_traceback_later(float(args.args[1]) + 90, exit=True)
        print(json.dumps(role_worker(args.args[0], float(args.args[1]))))
    else:
        run(args.smoke, args.recipients, args.worker_seconds)


if __name__ == "__main__":
    main()
