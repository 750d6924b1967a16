"""``tayori package``: a reproducible Lambda deployment zip of the app + its requirements.

Requirements are installed by pip for the Lambda platform (manylinux wheels for the
chosen architecture and Python version, never built from source), then every file is
written in sorted order with a fixed timestamp and fixed permissions, so the same
input gives a zip with the same SHA-256 (deploys that change nothing stay no-ops).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tayori.errors import ConfigError, PackageError

# Lambda quotas: direct upload of a zip, and the unzipped function + layers.
MAX_ZIPPED_DIRECT = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".venv",
        "venv",
        ".tayori",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        "node_modules",
        ".aws-sam",
        "tests",
    }
)


@dataclass(frozen=True, slots=True)
class PackageResult:
    path: str
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    architecture: str
    python_version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_package(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    requirements: str | os.PathLike[str] | None = None,
    python_version: str = "3.12",
    architecture: str = "x86_64",
    include_tayori: bool = True,
    handler: str | None = None,
    pip_args: Sequence[str] = (),
    allow_s3_upload: bool = False,
) -> PackageResult:
    """Build ``output`` from the app directory ``source`` and a requirements file."""
    src = Path(source)
    if not src.is_dir():
        raise ConfigError(f"app directory {str(src)!r} does not exist")
    if architecture not in PLATFORMS:
        raise ConfigError(
            f"architecture must be one of {', '.join(PLATFORMS)}, got {architecture!r}"
        )
    if python_version not in PYTHON_VERSIONS:
        raise ConfigError(
            f"python version must be one of {', '.join(PYTHON_VERSIONS)}, got {python_version!r}"
        )
    if requirements is not None and not Path(requirements).is_file():
        raise ConfigError(f"requirements file {str(requirements)!r} does not exist")
    out = Path(output)
    with tempfile.TemporaryDirectory(prefix="tayori-package-") as tmp:
        staging = Path(tmp) / "root"
        staging.mkdir()
        if requirements is not None:
            _pip_install(Path(requirements), staging, python_version, architecture, pip_args)
        _copy_tree(src, staging, exclude=out.resolve())
        if include_tayori and not (staging / "tayori").exists():
            _copy_tree(Path(__file__).resolve().parent.parent, staging / "tayori")
        if handler is not None:
            _check_handler(staging, handler)
        unzipped = _write_zip(staging, out)
    data = out.read_bytes()
    result = PackageResult(
        path=str(out),
        sha256=hashlib.sha256(data).hexdigest(),
        zipped_bytes=len(data),
        unzipped_bytes=unzipped,
        files=_count(out),
        architecture=architecture,
        python_version=python_version,
    )
    check_limits(result, allow_s3_upload=allow_s3_upload)
    return result


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


def _pip_install(
    requirements: Path, target: Path, python_version: str, arch: str, extra: Sequence[str]
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",  # .pyc files carry timestamps; Lambda compiles on import
        "--target",
        str(target),
        "--platform",
        PLATFORMS[arch],
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "-r",
        str(requirements),
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise PackageError(f"pip could not install {requirements} for Lambda: {last.strip()}")


def _walk(root: Path, skip_dirs: frozenset[str] = frozenset()) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and d != "__pycache__")
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


def _copy_tree(src: Path, dest: Path, exclude: Path | None = None) -> None:
    for path in _walk(src, SKIP_DIRS):
        if path.suffix == ".zip" or (exclude is not None and path.resolve() == exclude):
            continue
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _check_handler(root: Path, handler: str) -> None:
    module, _, attr = handler.rpartition(".")
    if not module or not attr:
        raise ConfigError(f"handler must look like 'module.function', got {handler!r}")
    # 'myapp.tasks.app.lambda_handler': the module is the longest prefix that is a file
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:cut])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return
    raise ConfigError(f"handler {handler!r}: no module {module!r} in the package")


def _write_zip(root: Path, out: Path) -> int:
    """Sorted entries, fixed dates and modes: the same tree always gives the same bytes."""
    files = sorted(_walk(root), key=lambda p: p.relative_to(root).as_posix())
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
