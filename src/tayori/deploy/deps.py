"""Dependencies of a Lambda package: resolved by pip for the Lambda platform, then installed.

Two pip calls. The first resolves everything (``--dry-run --report``) for the target
platform and Python, with binary wheels only, so a package such as pydantic-core comes
as the target's manylinux wheel and never from the build machine. The second installs
exactly the resolved versions, minus what the Lambda runtime already ships (boto3,
botocore, s3transfer and whatever only they need), unless the caller asks for a pinned
copy of boto3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tayori.errors import PackageError

PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
# What the managed Python runtime ships: left out unless the caller wants a pinned copy.
RUNTIME_SHIPS = frozenset({"boto3", "botocore", "s3transfer"})
# tayori's dependencies that only its command line uses: a Lambda never imports them.
CLI_ONLY = frozenset({"typer", "rich"})


@dataclass(frozen=True, slots=True)
class Resolved:
    """The distributions a package will hold, and those left to the runtime."""

    install: tuple[str, ...]  # "name==version", sorted
    left_out: tuple[str, ...]  # "name==version" the runtime provides


def tayori_requirements(*, include_boto3: bool) -> list[str]:
    """tayori's own runtime dependencies, pinned to the versions installed here
    (the versions tayori was installed and tested with)."""
    try:
        declared = metadata.requires("tayori") or []
    except metadata.PackageNotFoundError:
        raise PackageError(
            "tayori's package metadata is missing (install tayori with pip), so its "
            "dependencies are unknown"
        ) from None
    pins: list[str] = []
    for line in declared:
        req = Requirement(line)
        if req.marker is not None and "extra" in str(req.marker):
            continue
        name = canonicalize_name(req.name)
        if name in CLI_ONLY or (name in RUNTIME_SHIPS and not include_boto3):
            continue
        pins.append(_pinned(req))
    if include_boto3:
        pins.extend(_pinned(Requirement(n)) for n in ("botocore", "s3transfer"))
    return sorted(set(pins))


def _pinned(req: Requirement) -> str:
    try:
        return f"{req.name}=={metadata.version(req.name)}"
    except metadata.PackageNotFoundError:
        return str(req)


def marker_environment(python_version: str, architecture: str) -> dict[str, str]:
    """PEP 508 marker values of the Lambda runtime (Amazon Linux, CPython)."""
    return {
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": MACHINES[architecture],
    }


def resolve(
    requirements: Sequence[str],
    requirement_files: Sequence[Path],
    python_version: str,
    architecture: str,
    pip_args: Sequence[str],
    workdir: Path,
    *,
    include_boto3: bool,
) -> Resolved:
    """Ask pip what it would install for the target; drop what the runtime ships."""
    report = workdir / "pip-report.json"
    # --target: pip before 23.3 refuses --platform without it, even for a dry run
    args = ["--dry-run", "--ignore-installed", "--report", str(report)]
    args += ["--target", str(workdir / "resolve-target")]
    for path in requirement_files:
        args += ["-r", str(path)]
    _pip([*args, *requirements], python_version, architecture, pip_args, "resolve")
    items = json.loads(report.read_text()).get("install", [])
    if any(canonicalize_name(i["metadata"]["name"]) == "tayori" for i in items):
        raise PackageError("tayori is in the requirements too: pass --no-tayori to use that copy")
    excluded = frozenset() if include_boto3 else RUNTIME_SHIPS
    kept = reachable(items, marker_environment(python_version, architecture), excluded)
    install, left_out = [], []
    for item in items:
        meta = item["metadata"]
        pin = f"{meta['name']}=={meta['version']}"
        (install if canonicalize_name(meta["name"]) in kept else left_out).append(pin)
    return Resolved(tuple(sorted(install)), tuple(sorted(left_out)))


def reachable(
    items: Iterable[dict[str, Any]], env: dict[str, str], excluded: frozenset[str]
) -> set[str]:
    """Names reachable from the requested distributions without passing through
    ``excluded`` (so urllib3 stays when something besides botocore needs it)."""
    by_name = {canonicalize_name(i["metadata"]["name"]): i for i in items}
    todo: list[tuple[str, frozenset[str]]] = [
        (name, frozenset(i.get("requested_extras") or ()))
        for name, i in by_name.items()
        if i.get("requested")
    ]
    seen: dict[str, frozenset[str]] = {}
    while todo:
        name, extras = todo.pop()
        if name in excluded or name not in by_name:
            continue
        if name in seen and extras <= seen[name]:
            continue
        extras = extras | seen.get(name, frozenset())
        seen[name] = extras
        for line in by_name[name]["metadata"].get("requires_dist") or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not _applies(req.marker, env, extras):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return set(seen)


def _applies(marker: Marker, env: dict[str, str], extras: frozenset[str]) -> bool:
    return any(marker.evaluate({**env, "extra": e}) for e in (extras or {""}) | {""})


def install(
    pins: Sequence[str],
    target: Path,
    python_version: str,
    architecture: str,
    pip_args: Sequence[str],
) -> None:
    """Install exactly ``pins`` (no resolution) into ``target``."""
    if not pins:
        return
    args = ["--no-deps", "--no-compile", "--target", str(target)]
    _pip([*args, *pins], python_version, architecture, pip_args, "install")


def _pip(
    args: Sequence[str], python_version: str, arch: str, extra: Sequence[str], what: str
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--platform",
        PLATFORMS[arch],
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        *args,
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [
            ln.strip()
            for ln in (proc.stderr or proc.stdout).splitlines()
            if ln.strip() and not ln.startswith("WARNING:")
        ]
        reason = next((ln for ln in lines if ln.startswith("ERROR:")), lines[-1] if lines else "")
        raise PackageError(
            f"pip could not {what} the requirements for Lambda (python{python_version} "
            f"{arch}): {reason or f'exit code {proc.returncode}'}"
        )
