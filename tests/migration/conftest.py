"""The Celery project of ``tests/celery/project``, copied fresh for each test."""

from __future__ import annotations

import difflib
import importlib
import shutil
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

PROJECT = Path(__file__).parent / "project"
CELERY_IMPORT = "from .celery import app\n"
TAYORI_IMPORT = "from .tayori_app import app\n"


def load_project(root: Path, option: str) -> ModuleType:
    """Copy the project to ``root`` under a new package name and import its tasks.

    Option "a" changes exactly one line of ``tasks.py``: the import of the app."""
    name = f"proj_{uuid.uuid4().hex[:8]}"
    target = root / name
    shutil.copytree(PROJECT, target, ignore=shutil.ignore_patterns("__pycache__"))
    tasks = target / "tasks.py"
    original = tasks.read_text()
    if option == "a":
        changed = original.replace(CELERY_IMPORT, TAYORI_IMPORT)
        diff = [
            line
            for line in difflib.unified_diff(original.splitlines(), changed.splitlines(), n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        assert diff == ["-" + CELERY_IMPORT.strip(), "+" + TAYORI_IMPORT.strip()]
        tasks.write_text(changed)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"{name}.tasks")


@pytest.fixture
def effects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.jsonl"
    monkeypatch.setenv("PROJ_EFFECTS", str(path))
    return path


@pytest.fixture(params=["sqlite", "aws"])
def tayori_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """TAYORI_* for the embedded backend or for the AWS backend on a fresh moto server."""
    monkeypatch.setenv("TAYORI_VISIBILITY_TIMEOUT", "2")
    if request.param == "sqlite":
        monkeypatch.setenv("TAYORI_URL", f"sqlite:///{tmp_path}/store")
    else:
        moto_url = request.getfixturevalue("moto_url")
        monkeypatch.setenv("TAYORI_URL", "aws://?region=us-east-1")
        monkeypatch.setenv("TAYORI_ENDPOINT_URL", moto_url)
    return request.param


def option_a(root: Path, backend: str) -> ModuleType:
    """The project with only its import changed, its backend's resources created."""
    tasks = load_project(root, "a")
    if backend == "aws":
        tasks.app.backend.create_resources()  # what `tayori setup` does
    return tasks
