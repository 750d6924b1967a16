"""``tayori demo``: repeatable chaos, cleanup on Ctrl-C, warnings that do not tear the bar."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tayori.demo import run_demo


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAYORI_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def test_the_same_seed_injects_the_same_chaos() -> None:
    runs = [
        run_demo(300, latency_ms=2, concurrency=20, chaos=True, function_timeout=1.0, seed=11)
        for _ in range(2)
    ]
    first, second = (r.chaos for r in runs)
    assert first is not None and second is not None
    assert first["duplicate_deliveries_injected"] > 0
    assert first["transient_errors_injected"] > 0
    injected = ("duplicate_deliveries_injected", "executions_killed", "transient_errors_injected")
    assert [first[k] for k in injected] == [second[k] for k in injected]
    assert all(r.ok for r in runs)


@pytest.mark.parametrize("signals", [["SIGINT"], ["SIGTERM"], ["SIGINT", "SIGINT"]])
def test_an_interrupted_demo_removes_its_temporary_directory(
    tmp_path: Path, signals: list[str]
) -> None:
    """Ctrl-C, a plain ``kill``, or an impatient second Ctrl-C during the cleanup."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        ["tayori", "demo", "-n", "20000", "--latency-ms", "20"],
        env=_env(TMPDIR=str(tmp)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not list(tmp.glob("tayori-demo-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp.glob("tayori-demo-*")), "the demo never made its directory"
    time.sleep(1.5)  # mid-broadcast
    for name in signals:
        proc.send_signal(getattr(signal, name))
        time.sleep(0.2)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "tayori: interrupted", err
    assert list(tmp.iterdir()) == []


def test_log_lines_are_whole_lines_above_the_progress_bar(tmp_path: Path) -> None:
    """In a terminal, a warning printed during the demo is a line of its own: never glued
    to (or cut into) the progress bar's redraws."""
    import pty

    # what `tayori demo -n 300 --chaos` runs, with a 1 s function timeout so that the
    # killed batch comes back after 6 s instead of 30 s
    script = (
        "from tayori.cli.demo_view import run_with_progress; "
        "s = run_with_progress(300, 5, 20, chaos=True, seed=3, quiet=False, "
        "function_timeout=1.0); raise SystemExit(0 if s.ok else 1)"
    )
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(sys.executable, [sys.executable, "-c", script], _env(COLUMNS="100"))
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    # every JSON log line (the chaos run logs warnings) is one whole line: the bar is
    # erased first (\r, ESC[2K), then the line is written, then the bar is redrawn below
    segments = [seg for seg in re.split(r"\r\n|\r|\n", text) if '"level"' in seg]
    assert segments, text
    for seg in segments:
        seg = re.sub(r"^(\x1b\[[0-9;?]*[A-Za-z])*", "", seg)
        assert seg.startswith("{"), repr(seg)
        assert json.loads(seg)["level"] == "WARNING"
