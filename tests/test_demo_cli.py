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

from tayori.demo import run_demo


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAYORI_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def test_the_same_seed_injects_the_same_chaos() -> None:
    runs = [
        run_demo(300, latency_ms=2, concurrency=20, chaos=True, function_timeout=2.0, seed=11)
        for _ in range(2)
    ]
    first, second = (r.chaos for r in runs)
    assert first is not None and second is not None
    assert first["duplicate_deliveries_injected"] > 0
    assert first["transient_errors_injected"] > 0
    assert first == second
    assert all(r.ok for r in runs)
    other = run_demo(300, latency_ms=2, concurrency=20, chaos=True, function_timeout=2.0, seed=12)
    assert other.chaos != first  # the seed matters


def test_an_interrupted_demo_removes_its_temporary_directory(tmp_path: Path) -> None:
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
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "tayori: interrupted", err
    assert list(tmp.iterdir()) == []


def test_log_lines_are_whole_lines_above_the_progress_bar(tmp_path: Path) -> None:
    """In a terminal, a warning printed during the demo is a line of its own: never glued
    to (or cut into) the progress bar's redraws."""
    import pty

    script = (
        "import sys; from tayori.cli import main; "
        "sys.argv = ['tayori', 'demo', '-n', '600', '--latency-ms', '5', '--chaos', "
        "'--seed', '3']; main()"
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
    # every JSON log line (the chaos run logs warnings) is one whole line: only the bar's
    # own cursor controls may come before it, and it parses on its own
    logs = [line for line in text.split("\n") if '"level"' in line]
    assert logs, text
    for line in logs:
        start = line.index("{")
        assert re.fullmatch(r"(\r|\x1b\[[0-9;?]*[A-Za-z])*", line[:start]), repr(line)
        json.loads(line[start:].rstrip("\r"))
