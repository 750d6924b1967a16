"""``tayori worker`` as a user runs it: the installed command, a project directory, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TASKS = """
import time
import tayori

app = tayori.App("myapp")

@app.task(queue="work", idempotency_key="n")
def work(payload):
    time.sleep(payload.get("sleep", 0))
"""


def _env(project: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAYORI_")}
    env["TAYORI_URL"] = "sqlite:///./.tayori"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory as a user has it: ``myapp/tasks.py``, no PYTHONPATH entry for it."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "tasks.py").write_text(TASKS)
    return tmp_path


def _enqueue(project: Path, count: int, sleep: float) -> None:
    script = (
        "from myapp.tasks import work;"
        f"work.send_many({{'n': i, 'sleep': {sleep}}} for i in range({count}))"
    )
    subprocess.run(
        [sys.executable, "-c", script], cwd=project, env=_env(project), check=True, timeout=60
    )


def _depth(project: Path) -> dict[str, int]:
    out = subprocess.run(
        ["tayori", "status", "--json"],
        cwd=project,
        env=_env(project),
        capture_output=True,
        text=True,
        timeout=60,
    )
    (row,) = [q for q in json.loads(out.stdout)["queues"] if q["queue"] == "work"]
    return row


def _worker(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["tayori", "worker", "--app", "myapp.tasks:app", *args],
        cwd=project,
        env=_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell job is
    )


def test_children_import_the_app_from_the_project_directory(project: Path) -> None:
    _enqueue(project, 40, 0)
    proc = _worker(project, "-p", "2", "--json")
    deadline = time.monotonic() + 60
    while _depth(project)["visible"] and time.monotonic() < deadline:
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "No module named" not in err
    report = json.loads(out)
    assert report["total"]["deleted"] == 40


def test_a_child_that_fails_makes_the_parent_fail_with_one_line(project: Path) -> None:
    (project / "myapp" / "tasks.py").write_text(
        TASKS + "\nimport multiprocessing\n"
        "if multiprocessing.parent_process() is not None:\n"
        "    raise RuntimeError('cannot start here')\n"
    )
    proc = _worker(project, "-p", "2")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    lines = [line for line in err.splitlines() if line.startswith("tayori")]
    assert any("cannot start here" in line for line in lines), err
    assert "Traceback" not in err


@pytest.mark.parametrize("attempt", range(5))
def test_one_ctrl_c_stops_every_process_gracefully(project: Path, attempt: int) -> None:
    """SIGINT to the whole process group (what a terminal's Ctrl-C does)."""
    _enqueue(project, 200, 0.05)
    proc = _worker(project, "-p", "2", "-c", "4", "--json")
    deadline = time.monotonic() + 60
    while _depth(project)["visible"] > 150 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    # the documented bound of a graceful stop: in-flight batches may finish, up to the
    # function timeout (30 s) + the poll wait (1 s) + 1 s; it usually takes under 10 s
    try:
        out, err = proc.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"worker still running 45 s after Ctrl-C: {err}")
    assert time.monotonic() - started < 33
    assert proc.returncode == 0, err
    report = json.loads(out)
    depth = _depth(project)
    assert depth["in_flight"] == 0
    assert report["total"]["deleted"] + depth["visible"] == 200  # nothing lost


def test_a_second_ctrl_c_forces(project: Path) -> None:
    (project / "myapp" / "tasks.py").write_text(
        textwrap.dedent(
            """
            import time
            import tayori

            app = tayori.App("myapp")

            @app.task(queue="work", idempotency_key="n")
            def work(payload):
                time.sleep(60)
            """
        )
    )
    _enqueue(project, 4, 0)
    proc = _worker(project, "-p", "2", "--function-timeout", "120")
    deadline = time.monotonic() + 60
    while _depth(project)["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None  # the first one waits for the in-flight batch
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("a second Ctrl-C did not force the worker to stop")
    assert proc.returncode == 130
    assert "Traceback" not in err
