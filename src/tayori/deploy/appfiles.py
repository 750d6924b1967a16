"""Which files of the user's project go into the zip: the app's package(s) and what the
user names, nothing else.

In a git work tree only tracked files are taken (untracked and ignored files never are:
logs, local data, secrets); untracked ones are reported so the user can ``git add`` them.
Outside git every file under the named paths is taken. Either way caches, byte code,
logs and zips are left out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from tayori.errors import ConfigError

SKIP_DIRS = frozenset(
    {"__pycache__", "node_modules", "tests", ".git", ".venv", "venv", ".tayori", ".aws-sam"}
)
SKIP_SUFFIXES = (".pyc", ".pyo", ".log", ".zip", ".swp", ".tmp", "~")
SKIP_NAMES = frozenset({".DS_Store", "Thumbs.db"})


def wanted(rel: PurePosixPath) -> bool:
    """False for caches, byte code, logs, editor files, hidden directories."""
    *dirs, name = rel.parts
    if any(d in SKIP_DIRS or d.startswith(".") for d in dirs):
        return False
    return name not in SKIP_NAMES and not name.endswith(SKIP_SUFFIXES)


def select(source: Path, paths: Sequence[str], exclude: Path) -> tuple[list[str], list[str]]:
    """(files to package, untracked files skipped), as sorted posix paths under ``source``."""
    for p in paths:
        if not (source / p).exists():
            raise ConfigError(f"{p!r} does not exist in {str(source)!r}")
    tracked = _git(source, paths, "--cached")
    if tracked is None:
        files = [f for p in paths for f in _walk(source, source / p)]
        untracked: list[str] = []
    else:
        files = [f for f in tracked if (source / f).is_file()]
        untracked = sorted(f for f in (_git(source, paths, "--others", "--exclude-standard") or []))
    for p in paths:
        inside = [f for f in files if f == p or f.startswith(f"{p.rstrip('/')}/")]
        if not inside and tracked is not None:
            raise ConfigError(
                f"git tracks no file under {p!r}: git add it (only tracked files are packaged)"
            )
    excluded = exclude.resolve()
    keep = sorted(
        {f for f in files if wanted(PurePosixPath(f)) and (source / f).resolve() != excluded}
    )
    return keep, [f for f in untracked if wanted(PurePosixPath(f))]


def _git(source: Path, paths: Sequence[str], *flags: str) -> list[str] | None:
    """``git ls-files`` under ``source``, or None when it is not a git work tree."""
    if shutil.which("git") is None:
        return None
    inside = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
    )
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    proc = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", *flags, "--", *paths],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    return [f for f in proc.stdout.split("\0") if f]


def _walk(source: Path, start: Path) -> Iterator[str]:
    if start.is_file():
        yield start.relative_to(source).as_posix()
        return
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            yield (Path(dirpath) / name).relative_to(source).as_posix()


def copy(source: Path, files: Sequence[str], dest: Path) -> None:
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
        if os.access(source / rel, os.X_OK):
            target.chmod(0o755)


def module_paths(source: Path, top_level: str) -> list[str]:
    """The file or package directory of the top-level module ``top_level`` in ``source``."""
    found = [p for p in (top_level, f"{top_level}.py") if (source / p).exists()]
    if not found:
        raise ConfigError(
            f"the handler's module {top_level!r} is not in {str(source)!r} "
            f"(no {top_level}/ or {top_level}.py there)"
        )
    return found


def copy_tayori(dest: Path) -> None:
    """tayori's own source, from where this interpreter imports it."""
    root = Path(__file__).resolve().parent.parent
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = PurePosixPath("tayori", path.relative_to(root).as_posix())
            if name.endswith((".pyc", ".pyo")):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
