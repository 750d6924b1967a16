"""Every code block of docs/django.md, run as a user would run it.

The Python blocks become the files they name in a fresh project (settings.py gets the
test's SMTP server and database appended, the only lines not from the docs), the
snippets run in ``manage.py shell``, the shell blocks run in bash, and mail is checked
where it lands: a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "django.md"
EXAMPLE = ROOT / "examples" / "django_project"

MANAGE_PY = """import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docsite.settings")
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""
ORDERS_MODELS = """from django.db import models


class Order(models.Model):
    total = models.IntegerField()
    status = models.CharField(max_length=20, default="new")

    def confirm(self):
        self.status = "confirmed"
        self.save()
"""
# appended to the docs' settings.py: where this test's SMTP server and database are
SETTINGS_TAIL = """
import os
EMAIL_HOST = os.environ["EMAIL_HOST"]
EMAIL_PORT = int(os.environ["EMAIL_PORT"])
EMAIL_USE_TLS = False
INSTALLED_APPS += ["orders"]
SECRET_KEY = "docs-test"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""


def blocks() -> list[tuple[str, str]]:
    return re.findall(r"^```(\w+)\n(.*?)^```", DOC.read_text(), re.M | re.S)


def test_the_doc_has_the_blocks_this_test_runs() -> None:
    assert [lang for lang, _ in blocks()] == [
        "python",  # 0 settings.py
        "python",  # 1 the email backend
        "python",  # 2 orders/tasks.py
        "python",  # 3 send on commit
        "bash",  # 4 commands
        "python",  # 5 orders/tests.py
        "bash",  # 6 the example project
    ]


def _env(smtp: Any) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "EMAIL_HOST": smtp.host,
        "EMAIL_PORT": str(smtp.port),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def docsite(tmp_path: Path) -> Path:
    code = blocks()
    root = tmp_path / "docsite_project"
    (root / "docsite").mkdir(parents=True)
    (root / "orders").mkdir()
    (root / "manage.py").write_text(MANAGE_PY)
    (root / "docsite" / "__init__.py").write_text("")
    (root / "docsite" / "settings.py").write_text(code[0][1] + SETTINGS_TAIL)
    (root / "orders" / "__init__.py").write_text("")
    (root / "orders" / "models.py").write_text(ORDERS_MODELS)
    (root / "orders" / "tasks.py").write_text(code[2][1])
    (root / "orders" / "tests.py").write_text(code[5][1])
    return root


def test_settings_backend_tasks_on_commit_commands_and_testing_blocks(
    docsite: Path, smtp_server: Any
) -> None:
    code, env = blocks(), _env(smtp_server)
    manage = [sys.executable, "manage.py"]
    _run([*manage, "makemigrations", "orders"], docsite, env)
    _run([*manage, "migrate", "--noinput"], docsite, env)
    _run([*manage, "shell", "-c", code[1][1]], docsite, env)  # the email backend block
    _run([*manage, "shell", "-c", code[3][1]], docsite, env)  # the on_commit block
    assert smtp_server.messages == []  # queued, not sent yet

    lines = [ln.split("#")[0].strip() for ln in code[4][1].splitlines()]
    *quick, worker_line = [ln for ln in lines if ln]
    for line in quick:  # status, dlq list
        _run(["bash", "-c", line], docsite, env)
    worker = subprocess.Popen(["bash", "-c", f"exec {worker_line}"], cwd=docsite, env=env)
    try:
        _wait_for(lambda: len(smtp_server.messages) == 2, 60, "the two mails of the docs")
        status = "print(__import__('orders.models').models.Order.objects.get().status)"
        _wait_for(
            lambda: "confirmed" in _run([*manage, "shell", "-c", status], docsite, env),
            60,
            "confirm_order",
        )
    finally:
        worker.send_signal(signal.SIGINT)  # the user's Ctrl-C
        assert worker.wait(timeout=60) == 0

    by_subject = {m.message["Subject"]: m for m in smtp_server.messages}
    welcome, invoice = by_subject["Welcome"], by_subject["Your invoice"]
    assert welcome.mail_from == "webmaster@localhost" and welcome.rcpt_tos == ["ann@example.org"]
    assert invoice.rcpt_tos == ["ann@example.org", "archive@example.com"]  # Bcc: envelope only
    assert b"archive@example.com" not in invoice.data
    names = [p.get_filename() for p in invoice.message.iter_attachments()]
    assert names == ["facture-été.pdf"]

    out = _run([*manage, "test", "orders"], docsite, env)  # the Testing block
    assert re.search(r"Ran 1 test", out) and "\nOK" in out, out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_example_project_block(tmp_path: Path, smtp_server: Any) -> None:
    shutil.copytree(
        EXAMPLE,
        tmp_path / "examples" / "django_project",
        ignore=shutil.ignore_patterns(".tayori", "db.sqlite3", "__pycache__"),
    )
    script = blocks()[6][1].replace("127.0.0.1:8000", f"127.0.0.1:{_free_port()}")
    env = _env(smtp_server)
    log = tmp_path / "block.log"
    with log.open("w") as out:  # a file: the background jobs keep a pipe open after bash ends
        shell = subprocess.Popen(
            ["bash", "-e", "-c", script.replace("python ", f"{sys.executable} ")],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the block's background jobs share this process group
        )
    try:
        code = shell.wait(timeout=240)
        output = log.read_text()
        assert code == 0, output
        assert '"broadcast_id": "announcement-1"' in output and '"member":' in output
        assert re.search(r"Ran [1-9][0-9]* tests", output) and "\nOK" in output, output
        _wait_for(lambda: len(smtp_server.messages) == 5, 60, "4 announcements + 1 welcome")
    finally:
        os.killpg(shell.pid, signal.SIGINT)  # worker and runserver, still in the background
        time.sleep(1)
        try:
            os.killpg(shell.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    subjects = sorted(str(m.message["Subject"]) for m in smtp_server.messages)
    assert subjects == ["Welcome to Staff"] + ["[Staff] Hello"] * 4  # Dee joined first
