"""``tayori package``: a Lambda deployment zip that the Lambda runtime can load and run.

The zip holds the app's package(s) and the paths the user names, tayori itself (from the
source this interpreter imports) and every dependency installed by pip for the Lambda
platform and Python version (see :mod:`tayori.deploy.deps`), and the bytecode the
target Python would otherwise compile at every cold start: ``/var/task`` is read-only, so
Lambda keeps nothing it compiles. Files are written in sorted order with a fixed
timestamp and fixed permissions, and the bytecode is hash-based with a fixed hash seed,
so the same inputs give a zip with the same SHA-256 (a deploy that changes nothing stays
a no-op). Before it reports success the package is unzipped and its handler imported in
a clean interpreter of the target Python with only the package and the runtime's boto3
on its path, writing nothing, as Lambda imports it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tayori.deploy import appfiles, deps
from tayori.deploy.verify import (
    ENTRY_MODULE,
    check_module_path,
    find_python,
    plan_handler,
    verify_import,
)
from tayori.errors import ConfigError, PackageError

__all__ = ["PackageError", "PackageResult", "build_package", "check_limits"]

# Lambda quotas: direct upload of a zip, and the unzipped function + layers.
MAX_ZIPPED_DIRECT = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
PLATFORMS = deps.PLATFORMS
PYTHON_VERSIONS = ("3.12", "3.13")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
TASK_ROOT = "/var/task"  # where Lambda unzips the function: the paths tracebacks show
COMPILE_TIMEOUT = 600


@dataclass(frozen=True, slots=True)
class PackageResult:
    path: str
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    architecture: str
    python_version: str
    handler: str | None = None  # the string to give Lambda
    import_seconds: float | None = None  # handler import time in the clean interpreter
    bytecode: bool = False  # compiled for the target Python (False: no such interpreter here)
    dependencies: list[str] = field(default_factory=list)
    left_to_runtime: list[str] = field(default_factory=list)
    untracked_skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Options:
    python_version: str
    architecture: str
    pip_args: Sequence[str]
    include_boto3: bool


def _check_target(python_version: str, architecture: str) -> None:
    if architecture not in PLATFORMS:
        raise ConfigError(
            f"architecture must be one of {', '.join(PLATFORMS)}, got {architecture!r}"
        )
    if python_version not in PYTHON_VERSIONS:
        raise ConfigError(
            f"python version must be one of {', '.join(PYTHON_VERSIONS)}, got {python_version!r}"
        )


def build_package(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    handler: str,
    requirements: str | os.PathLike[str] | None = None,
    include: Sequence[str] = (),
    python_version: str = "3.12",
    architecture: str = "x86_64",
    include_tayori: bool = True,
    include_boto3: bool = False,
    pip_args: Sequence[str] = (),
    verify: bool = True,
    verify_python: str | None = None,
    allow_s3_upload: bool = False,
    bytecode: bool = True,
) -> PackageResult:
    """Build ``output`` from the project directory ``source`` for ``handler``.

    ``bytecode`` needs an interpreter of the target Python (the one that verifies, or
    ``verify_python``); without one the zip holds sources only and says so.
    """
    src = Path(source)
    if not src.is_dir():
        raise ConfigError(f"app directory {str(src)!r} does not exist")
    _check_target(python_version, architecture)
    if requirements is not None and not Path(requirements).is_file():
        raise ConfigError(f"requirements file {str(requirements)!r} does not exist")
    plan = plan_handler(handler)
    check_module_path(src, plan)
    out = Path(output)
    paths = [*(() if plan.top_level == "tayori" else appfiles.module_paths(src, plan.top_level))]
    paths += [p for p in include if p not in paths]
    files, untracked = appfiles.select(src, paths, exclude=out)
    python = find_python(python_version, verify_python) if verify else None
    compiler = python
    if compiler is None and bytecode:
        compiler = _quiet_find(python_version, verify_python)
    opts = _Options(python_version, architecture, pip_args, include_boto3)
    with tempfile.TemporaryDirectory(prefix="tayori-package-") as tmp:
        work = Path(tmp)
        staging = work / "root"
        staging.mkdir()
        resolved = _install_deps(staging, work, requirements, include_tayori, opts)
        appfiles.copy(src, files, staging)
        if include_tayori:
            appfiles.copy_tayori(staging)
        if plan.entry_source is not None:
            (staging / f"{ENTRY_MODULE}.py").write_text(plan.entry_source)
        compiled = bytecode and compiler is not None and compile_bytecode(staging, compiler)
        unzipped = _write_zip(staging, out)
        seconds = None
        if python is not None:
            unpacked = work / "unpacked"
            with zipfile.ZipFile(out) as zf:
                zf.extractall(unpacked)
            seconds = verify_import(unpacked, plan.lambda_handler, python)
    data = out.read_bytes()
    result = PackageResult(
        path=str(out),
        sha256=hashlib.sha256(data).hexdigest(),
        zipped_bytes=len(data),
        unzipped_bytes=unzipped,
        files=_count(out),
        architecture=architecture,
        python_version=python_version,
        handler=plan.lambda_handler,
        import_seconds=None if seconds is None else round(seconds, 3),
        bytecode=bool(compiled),
        dependencies=list(resolved.install),
        left_to_runtime=list(resolved.left_out),
        untracked_skipped=untracked,
    )
    check_limits(result, allow_s3_upload=allow_s3_upload)
    return result


def _quiet_find(python_version: str, explicit: str | None) -> str | None:
    try:
        return find_python(python_version, explicit)
    except PackageError:
        return None


def compile_bytecode(root: Path, python: str) -> bool:
    """Compile every module under ``root`` with the target ``python``: hash-based and
    unchecked (the sources in a deployed zip never change, so no import reads them to
    check), the hash seed fixed (frozenset constants come out in one order), paths as
    Lambda shows them (``/var/task/...``). A file that does not compile (some packages
    ship files for other Pythons) keeps its source only, as it would run anyway."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0"}
    args = ["-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    try:
        subprocess.run(
            [python, "-S", "-s", "-m", "compileall", *args, "-s", str(root), "-p", TASK_ROOT,
             str(root)],
            env=env, capture_output=True, timeout=COMPILE_TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackageError(f"cannot compile the package's bytecode with {python}: {exc}") from None
    return any(root.rglob("__pycache__/*.pyc"))


def _install_deps(
    staging: Path,
    work: Path,
    requirements: str | os.PathLike[str] | None,
    include_tayori: bool,
    opts: _Options,
) -> deps.Resolved:
    pins = deps.tayori_requirements(include_boto3=opts.include_boto3) if include_tayori else []
    files = [Path(requirements)] if requirements is not None else []
    if not pins and not files:
        return deps.Resolved((), ())
    resolved = deps.resolve(
        pins,
        files,
        opts.python_version,
        opts.architecture,
        opts.pip_args,
        work,
        include_boto3=opts.include_boto3,
    )
    target = work / "deps"
    deps.install(resolved.install, target, opts.python_version, opts.architecture, opts.pip_args)
    if target.is_dir():
        # console scripts (bin/) carry this machine's interpreter path and are of no use
        for path in sorted(target.rglob("*")):
            rel = path.relative_to(target)
            if path.is_dir() or rel.parts[0] == "bin" or "__pycache__" in rel.parts:
                continue
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
    return resolved


def check_limits(result: PackageResult, *, allow_s3_upload: bool = False) -> None:
    """Fail with both sizes and the limit in one line when Lambda would refuse the zip."""
    mib = 1024 * 1024
    if result.unzipped_bytes > MAX_UNZIPPED:
        raise PackageError(
            f"package unzips to {result.unzipped_bytes / mib:.1f} MiB, over Lambda's "
            f"{MAX_UNZIPPED // mib} MiB limit: trim requirements or use a container image"
        )
    if result.zipped_bytes > MAX_ZIPPED_DIRECT and not allow_s3_upload:
        raise PackageError(
            f"package is {result.zipped_bytes / mib:.1f} MiB zipped, over the "
            f"{MAX_ZIPPED_DIRECT // mib} MiB direct-upload limit: deploy it through S3 "
            "(sam deploy does) and pass --allow-s3-upload"
        )


def _write_zip(root: Path, out: Path) -> int:
    """Sorted entries, fixed dates and modes: the same tree always gives the same bytes.
    (The staged tree holds no stray bytecode: app files and pip's installs come without.)"""
    files = sorted(
        (p for p in root.rglob("*") if p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    total = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=FIXED_DATE)
            info.create_system = 3  # unix, so external_attr carries the mode
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            total += len(data)
            zf.writestr(info, data, compresslevel=9)
    os.replace(tmp, out)
    return total


def _count(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return len(zf.infolist())
