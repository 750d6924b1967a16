"""examples/django_project as a user runs it: its own tests, then migrate, loaddata,
``manage.py tayori worker`` and ``runserver`` as separate processes, and mail arriving
at a real SMTP server (aiosmtpd) after requests to the site's views."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "django_project"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path, smtp_server: Any) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh copy of the example project and the environment its processes run with."""
    root = tmp_path / "django_project"
    shutil.copytree(
        EXAMPLE, root, ignore=shutil.ignore_patterns(".tayori", "db.sqlite3", "__pycache__")
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "EMAIL_HOST": smtp_server.host,
        "EMAIL_PORT": str(smtp_server.port),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    yield root, env


def manage(root: Path, env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _start(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode, proc.stdout.read() if proc.stdout else ""


def _post(url: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    body = urllib.parse.urlencode(data).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
        return r.status, json.loads(r.read())


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _wait_for_server(url: str, proc: subprocess.Popen[str]) -> None:
    def up() -> bool:
        assert proc.poll() is None, "runserver exited"
        try:
            urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError:
            return True  # it answers (404 is fine)
        except OSError:
            return False
        return True

    _wait_for(up, 60, "runserver")


def test_the_examples_own_tests_pass(site: tuple[Path, dict[str, str]]) -> None:
    root, env = site
    out = manage(root, env, "test", "groups")
    assert re.search(r"Ran [1-9][0-9]* tests", out) and "\nOK" in out, out


def test_views_enqueue_and_the_worker_process_delivers(site: Any, smtp_server: Any) -> None:
    root, env = site
    manage(root, env, "migrate", "--noinput")
    manage(root, env, "loaddata", "demo")
    # two worker processes: each spawned interpreter sets Django up from tayori.contrib.django.entry
    worker = _start(root, env, "tayori", "worker", "--processes", "2", "--concurrency", "2")
    port = _free_port()
    server = _start(root, env, "runserver", f"127.0.0.1:{port}", "--noreload")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/groups/", server)
        status, data = _post(f"{base}/groups/1/announce/", {"subject": "Hi", "body": "News"})
        assert status == 202 and data["broadcast_id"] == "announcement-1"
        _wait_for(lambda: len(smtp_server.messages) == 3, 60, "the broadcast's three mails")
        got = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
        assert got == ["ann@example.org", "bo@example.org", "chie@example.org"]
        assert all(m.message["Subject"] == "[Staff] Hi" for m in smtp_server.messages)
        smtp_server.clear()

        status, _ = _post(f"{base}/groups/1/join/", {"name": "Dee", "email": "dee@example.org"})
        assert status == 201
        _wait_for(lambda: len(smtp_server.messages) == 1, 60, "the welcome mail")
        (welcome,) = smtp_server.messages
        assert welcome.mail_from == "groups@example.com" and welcome.rcpt_tos == ["dee@example.org"]
        assert welcome.message["From"] == "Example Groups <groups@example.com>"

        status_out = manage(root, env, "tayori", "status", "--json")
        assert '"mail"' in status_out
    finally:
        _stop(server)
        code, output = _stop(worker)
    assert code == 0, output
    assert "polling" in output and "2 process(es)" in output
