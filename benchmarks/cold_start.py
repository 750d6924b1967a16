"""Benchmark 5: what a Lambda cold start pays to import the handler module.

In a fresh interpreter each time: ``import benchmarks.lambda_app`` and build its handler
(``app.handler`` plus the DynamoDB persistence layer, configured for AWS as deployed)
against the seed's own minimal handler (``benchmarks.minimal_handler``: Powertools
BatchProcessor + idempotent_function + DynamoDBPersistenceLayer, nothing else), the two
alternating in the same run. Target: tayori <= 1.05x the minimal handler. Then
``python -X importtime`` names the packages that dominate.

Bytecode: by default each module loads as this environment has it -- installed packages
(Powertools, boto3) from the bytecode pip wrote, tayori from its source tree, which is
compiled at every import where ``PYTHONDONTWRITEBYTECODE`` is set. ``--bytecode`` gives
both sides the same footing: every module from bytecode cached in a fresh temporary
directory (``PYTHONPYCACHEPREFIX``, written by one warm-up import of each).

    python -m benchmarks.cold_start [--smoke] [--bytecode]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import common

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = (
    "import time; t = time.perf_counter(); import benchmarks.lambda_app as m; "
    "m.app.handler; m.app.backend.persistence_layer(); print(time.perf_counter() - t)"
)
MINIMAL = (
    "import time; t = time.perf_counter(); import benchmarks.minimal_handler as m; "
    "print(time.perf_counter() - t)"
)


def _env(tmp: str, bytecode: bool = False) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    if bytecode:  # every module from bytecode, tayori's as the installed packages'
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    # as deployed: the AWS backend (nothing is called at import; no traffic leaves)
    env["TAYORI_URL"] = "aws://?region=us-east-1"
    env["TAYORI_ENDPOINT_URL"] = "http://127.0.0.1:9"
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env["POWERTOOLS_SERVICE_NAME"] = "coldstart"
    return env


def measure(runs: int, bytecode: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(tmp, bytecode)
        for snippet in (SNIPPET, MINIMAL) if bytecode else ():  # writes the bytecode
            subprocess.run(
                [sys.executable, "-c", snippet], env=env, cwd=ROOT, capture_output=True, check=True
            )
        imports, minimal = [], []
        for _ in range(runs):  # alternate, so both see the same machine
            for snippet, into in ((SNIPPET, imports), (MINIMAL, minimal)):
                out = subprocess.run(
                    [sys.executable, "-c", snippet], env=env, cwd=ROOT, capture_output=True,
                    text=True, check=True,
                )  # fmt: skip
                into.append(float(out.stdout.strip().splitlines()[-1]))
        trace = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", SNIPPET],
            env=env, cwd=ROOT, capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip
    return {"import_s": imports, "minimal_s": minimal, "top_level": top_packages(trace)}


def top_packages(trace: str, limit: int = 12) -> list[dict[str, Any]]:
    """Cumulative import time per top-level package (from ``-X importtime`` output)."""
    totals: dict[str, int] = {}
    for line in trace.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        try:
            self_us = int(parts[0])
        except ValueError:
            continue
        name = parts[2].strip().split(".")[0]
        totals[name] = totals.get(name, 0) + self_us
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [{"package": k, "self_ms": v / 1000} for k, v in ranked]


def run(smoke: bool, bytecode: bool = False) -> dict:
    runs = 3 if smoke else 15
    m = measure(runs, bytecode)
    median = statistics.median(m["import_s"])
    baseline = statistics.median(m["minimal_s"])
    ratio = median / baseline
    data = {
        "runs": runs,
        "bytecode": "every module from cached bytecode" if bytecode else "as found",
        "import_s": m["import_s"],
        "minimal_import_s": m["minimal_s"],
        "median_import_ms": median * 1000,
        "median_minimal_ms": baseline * 1000,
        "min_import_ms": min(m["import_s"]) * 1000,
        "ratio_over_minimal": round(ratio, 3),
        "top_packages": m["top_level"],
        "targets_met": {
            "handler_import_under_300ms": median < 0.3,
            "within_1_05x_of_minimal_handler": ratio <= 1.05,
        },
    }
    print(
        f"handler import: median {median * 1000:.0f} ms, minimal Powertools handler "
        f"{baseline * 1000:.0f} ms ({ratio:.3f}x) over {runs} runs each"
        + (", every module from bytecode" if bytecode else "")
    )
    for p in m["top_level"][:6]:
        print(f"  {p['package']:<28}{p['self_ms']:8.1f} ms")
    name = "cold_start_bytecode" if bytecode else "cold_start"  # side by side
    plot(data, smoke, name)
    path = common.write_result(name, data, smoke)
    print(f"wrote {path}")
    return data


def plot(data: dict, smoke: bool, name: str = "cold_start") -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    top = data["top_packages"][:10][::-1]
    ax.barh([p["package"] for p in top], [p["self_ms"] for p in top])
    ax.set_xlabel("import time, ms (python -X importtime, summed per top-level package)")
    ax.set_title(
        f"tayori handler import: median {data['median_import_ms']:.0f} ms "
        f"({data['ratio_over_minimal']}x the minimal Powertools handler)"
    )
    fig.tight_layout()
    fig.savefig(common.plot_path(name, smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument(
        "--bytecode", action="store_true", help="every module from cached bytecode, both sides"
    )
    args = parser.parse_args()
    run(args.smoke, args.bytecode)


if __name__ == "__main__":
    main()
