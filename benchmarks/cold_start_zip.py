"""Benchmark 5b: a cold start as deployed -- the handler import from a `tayori package` zip.

``benchmarks.cold_start`` imports from this source tree. Lambda imports from the unzipped
zip in a read-only ``/var/task``, so what it cannot find as bytecode it compiles at every
cold start. Here both handlers are built by ``tayori package`` for Python 3.12 x86_64,
with and without bytecode: tayori's (``benchmarks.lambda_app``, with tayori and its
dependencies) and the seed's minimal one (``benchmarks.minimal_handler`` with only
Powertools, pinned to the version installed here). Each is unzipped and imported in a
fresh ``python3.12 -I -S -B`` (writes nothing, as in Lambda) with only the zip and the
runtime's boto3 on its path; tayori's side also builds its handler and the DynamoDB
persistence layer, as ``cold_start`` does. The four alternate in the same run.

    python -m benchmarks.cold_start_zip [--smoke] [--python PATH]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.cold_start import _env
from tayori.deploy.package import build_package
from tayori.deploy.verify import runtime_dir

HERE = Path(__file__).resolve().parent
CHILD = (
    "import sys, time; sys.path[:0] = sys.argv[1:3]; t = time.perf_counter(); "
    "import {module} as m; {then}; print(time.perf_counter() - t)"
)
SIDES = {
    "tayori": ("coldapp.functions:app", "tayori_handler", "m._app.handler; "
               "m._app.backend.persistence_layer()"),
    "minimal": ("minimal_handler.handler", "minimal_handler", "m.handler"),
}  # fmt: skip


def python312(explicit: str | None) -> str:
    if explicit:
        return explicit
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found = sorted(glob.glob(f"{root}/versions/3.12.*/bin/python3.12"))
    which = shutil.which("python3.12")
    if found:
        return found[-1]
    if which:
        return which
    raise SystemExit("cold_start_zip: no Python 3.12 (pass --python PATH)")


def _projects(tmp: Path) -> dict[str, Path]:
    """The two projects as a user has them: a package or module, and requirements."""
    tayori_project = tmp / "tayori-project"
    (tayori_project / "coldapp").mkdir(parents=True)
    (tayori_project / "coldapp" / "__init__.py").write_text("")
    shutil.copy(HERE / "lambda_app.py", tayori_project / "coldapp" / "functions.py")
    minimal_project = tmp / "minimal-project"
    minimal_project.mkdir()
    shutil.copy(HERE / "minimal_handler.py", minimal_project / "minimal_handler.py")
    pin = f"aws-lambda-powertools=={version('aws-lambda-powertools')}\n"
    (minimal_project / "requirements.txt").write_text(pin)
    return {"tayori": tayori_project, "minimal": minimal_project}


def build(tmp: Path, python: str) -> dict[str, dict[str, Any]]:
    """Four zips, unzipped: tayori / minimal x bytecode / sources only."""
    projects = _projects(tmp)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the minimal one's import check
    built: dict[str, dict[str, Any]] = {}
    for side, project in projects.items():
        handler = SIDES[side][0]
        for bytecode in (True, False):
            name = f"{side}-{'bytecode' if bytecode else 'source'}"
            result = build_package(
                project,
                tmp / f"{name}.zip",
                handler=handler,
                requirements=None if side == "tayori" else project / "requirements.txt",
                include_tayori=side == "tayori",
                verify_python=python,
                bytecode=bytecode,
            )
            root = tmp / name
            with zipfile.ZipFile(result.path) as zf:
                zf.extractall(root)
            built[name] = {"side": side, "root": root, "bytecode": result.bytecode,
                           "zipped_bytes": result.zipped_bytes, "files": result.files}  # fmt: skip
    return built


def measure(built: dict[str, dict[str, Any]], python: str, runs: int, tmp: Path) -> None:
    env = _env(str(tmp))
    env.pop("PYTHONPATH", None)
    runtime = runtime_dir(tmp)
    for entry in built.values():
        entry["import_s"] = []
    for _ in range(runs):  # alternate, so all four see the same machine
        for entry in built.values():
            _, module, then = SIDES[entry["side"]]
            root = entry["root"]
            out = subprocess.run(
                [python, "-I", "-S", "-B", "-c", CHILD.format(module=module, then=then),
                 str(root), str(runtime)],
                env=env, cwd=root, capture_output=True, text=True, check=True,
            )  # fmt: skip
            entry["import_s"].append(float(out.stdout.strip().splitlines()[-1]))


def run(smoke: bool, python: str | None = None) -> dict:
    runs = 2 if smoke else 15
    py = python312(python)
    with tempfile.TemporaryDirectory(prefix="tayori-coldzip-") as tmp:
        built = build(Path(tmp), py)
        measure(built, py, runs, Path(tmp))
    medians = {name: statistics.median(e["import_s"]) for name, e in built.items()}
    ratio = medians["tayori-bytecode"] / medians["minimal-bytecode"]
    gain = medians["tayori-source"] / medians["tayori-bytecode"]
    data = {
        "runs": runs,
        "python": py,
        "zips": {
            name: {k: v for k, v in e.items() if k != "root"} | {"median_ms": medians[name] * 1000}
            for name, e in built.items()
        },
        "ratio_over_minimal_bytecode": round(ratio, 3),
        "ratio_over_minimal_source": round(medians["tayori-source"] / medians["minimal-source"], 3),
        "tayori_source_over_bytecode": round(gain, 3),
        "targets_met": {"within_1_05x_of_minimal_handler": ratio <= 1.05},
    }  # fmt: skip
    for name, median in medians.items():
        print(f"  {name:<18}{median * 1000:8.0f} ms")
    print(
        f"as deployed (python3.12, read-only): tayori {ratio:.3f}x the minimal Powertools "
        f"handler with bytecode, {data['ratio_over_minimal_source']:.3f}x from source; "
        f"bytecode makes tayori's import {data['tayori_source_over_bytecode']:.2f}x faster"
    )
    path = common.write_result("cold_start_zip", data, smoke)
    plot(data, medians, smoke)
    print(f"wrote {path}")
    return data


def plot(data: dict, medians: dict[str, float], smoke: bool) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = list(medians)[::-1]
    ax.barh(names, [medians[n] * 1000 for n in names])
    ax.set_xlabel("handler import from the unzipped package, median ms (python3.12 -I -S -B)")
    ax.set_title(
        f"cold start as deployed: tayori {data['ratio_over_minimal_bytecode']}x the minimal "
        "handler (both with bytecode)"
    )
    fig.tight_layout()
    fig.savefig(common.plot_path("cold_start_zip", smoke), dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument("--python", metavar="PATH", help="the Python 3.12 to import with")
    args = parser.parse_args()
    run(args.smoke, args.python)


if __name__ == "__main__":
    main()
