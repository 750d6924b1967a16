"""docs/migrating-from-celery.md, run as a user would: every file block written, every
command run (subprocess, fresh directory, the installed ``tayori`` command), real Django
and real Celery + kombu; option B against a moto server standing in for SQS."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-celery.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)
SRC = Path(__file__).resolve().parents[2] / "src"


def sections() -> dict[str, str]:
    text = DOC.read_text()
    a = text.index("## Option A")
    b = text.index("## Option B")
    end = text.index("## Settings mapping")
    return {"base": text[:a], "A": text[a:b], "B": text[b:end], "rest": text[end:]}


def steps(text: str) -> list[tuple[str, str]]:
    """("file", path + body) and ("run", command) in document order."""
    out: list[tuple[str, str]] = []
    for lang, info, body in BLOCK.findall(text):
        if lang == "python":
            match = re.search(r"file=(\S+)", info)
            assert match, f"python block without file=: {body[:60]!r}"
            out.append(("file", f"{match.group(1)}\n{body}"))
        elif lang == "console":
            for line in body.splitlines():
                assert line.startswith("$ "), f"console line without '$ ': {line!r}"
                out.append(("run", line[2:]))
        else:
            raise AssertionError(f"unexpected block language {lang!r}")
    return out


def before(base: str) -> str:
    """The "before" project's files. Its one command (the web app's ``.delay()``) needs the
    Celery broker, so it runs in option B after the queue is set up: B repeats it."""
    cut = base.index("The web app calls it")
    (command,) = [v for k, v in steps(base[cut:]) if k == "run"]
    assert ("run", command) in steps(sections()["B"])
    return base[:cut]


def test_every_block_is_a_file_or_a_command() -> None:
    parts = sections()
    assert "```" not in parts["rest"].replace("`` ` ``", "")  # nothing unrun after the options
    for name in ("base", "A", "B"):
        assert steps(parts[name])


class Journey:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.workers: list[subprocess.Popen[str]] = []

    def play(self, text: str) -> None:
        for kind, value in steps(text):
            if kind == "file":
                path, _, body = value.partition("\n")
                target = self.root / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(body)
            elif value.startswith("export "):
                name, _, raw = value[len("export ") :].partition("=")
                self.env[name] = shlex.split(raw)[0]
            elif value.startswith("tayori worker"):
                self.workers.append(
                    subprocess.Popen(
                        ["bash", "-c", value + " --concurrency 2"],
                        cwd=self.root,
                        env=self.env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                        start_new_session=True,
                    )
                )
            else:
                done = subprocess.run(
                    ["bash", "-c", value],
                    cwd=self.root,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, f"{value}\n{done.stdout}\n{done.stderr}"

    def mail(self) -> str:
        folder = self.root / "sent-mail"
        return "".join(p.read_text() for p in folder.glob("*")) if folder.exists() else ""

    def wait_for_mail(self, needle: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.mail():
                return self.mail()
            for worker in self.workers:
                if worker.poll() is not None:
                    pytest.fail(f"worker exited: {worker.stdout.read() if worker.stdout else ''}")
            time.sleep(0.3)
        pytest.fail(f"no mail with {needle!r} after {timeout}s")

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGINT)
            out, _ = worker.communicate(timeout=60)
            assert worker.returncode == 0, out


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAYORI_", "CELERY_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "project"), str(SRC)])
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def test_option_a_on_the_embedded_backend(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    journey = Journey(root, base_env(tmp_path))
    parts = sections()
    journey.play(before(parts["base"]))
    journey.play(parts["A"])
    try:
        text = journey.wait_for_mail("[vip] Welcome, user 42")
    finally:
        journey.stop()
    assert text.count("Welcome, user 42") == 1  # the Celery-era send never reached tayori
    assert "Welcome, user 7" not in text  # due in an hour
    assert "from tayori import shared_task" in (root / "shop" / "tasks.py").read_text()


def test_option_b_against_sqs_on_moto(tmp_path: Path, moto_url: str) -> None:
    root = tmp_path / "project"
    root.mkdir()
    env = base_env(tmp_path)
    port = urlparse(moto_url).port
    env.update(  # the stand-in for AWS: a local endpoint and dummy credentials
        CELERY_BROKER_URL=f"sqs://testing:testing@127.0.0.1:{port}",
        SQS_HTTPS="0",
        TAYORI_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    journey = Journey(root, env)
    parts = sections()
    journey.play(before(parts["base"]))
    journey.play(parts["B"])
    try:
        text = journey.wait_for_mail("[vip] Welcome, user 42")
    finally:
        journey.stop()
    assert text.count("Welcome, user 42") == 1
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import lambda_function as f; print(f.lambda_handler({'Records': []}))",
        ],
        cwd=root,
        env=journey.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().endswith("{'batchItemFailures': []}")
