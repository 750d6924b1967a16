"""``python -m reliability [--smoke] [--json FILE] [--only NAME ...]``.

Exit status 0 when every scenario met its target, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from reliability.result import render, write_json
from reliability.run import FULL, NAMES, SMOKE, run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="the reduced sizes CI runs")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=(), help="scenarios to run")
    parser.add_argument("--workdir", help="keep the scenarios' files here (default: temp dir)")
    for field in dataclasses.fields(FULL):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default))
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    sizes = dataclasses.replace(
        sizes,
        **{
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(sizes)
            if getattr(args, f.name) is not None
        },
    )
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tayori-reliability-") as tmp:
        workdir = Path(args.workdir or tmp)
        results = run_all(
            workdir,
            sizes,
            tuple(args.only),
            on_result=lambda r: print(
                f"{r.name}: lost {r.lost}, duplicates {r.duplicates}, "
                f"{'ok' if r.ok else 'FAILED'} ({r.elapsed_s}s)",
                file=sys.stderr,
            ),
        )
    render(results)
    if args.json:
        meta = {
            "sizes": dataclasses.asdict(sizes),
            "smoke": args.smoke,
            "elapsed_s": round(time.monotonic() - started, 1),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
        write_json(results, args.json, meta)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
