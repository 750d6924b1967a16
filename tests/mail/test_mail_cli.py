"""``tayori send`` as a user runs it: default mail app, templates in ./templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def tayori(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TAYORI_URL": "sqlite:///./.tayori"}
    return subprocess.run(
        ["tayori", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "notice.subject").write_text("{{ title }}")
    (tmp_path / "templates" / "notice.txt").write_text("Hi {{ name }}")
    (tmp_path / "people.csv").write_text("email,name\na@example.org,A\nb@example.org,B\n")
    (tmp_path / "people.jsonl").write_text('{"email": "c@example.org"}\n"d@example.org"\n')
    return tmp_path


def test_send_enqueues_and_worker_delivers(project: Path) -> None:
    out = tayori(
        project,
        "send",
        "--template",
        "notice",
        "--recipients",
        "people.csv",
        "--context",
        '{"title": "Hello"}',
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["total"] == 2 and data["template"] == "notice"
    out = tayori(
        project, "send", "-t", "notice", "-r", "people.jsonl", "-c", '{"title": "x", "name": "all"}'
    )
    assert out.returncode == 0 and "2 recipients queued" in out.stdout
    script = (
        "from tayori.mail.default import app, mailer;"
        "app.runtime().run_until_idle(timeout=60);"
        "print(mailer.status({!r}).sent)".format(data["broadcast_id"])
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TAYORI_URL": "sqlite:///./.tayori"},
    )
    assert done.stdout.strip().splitlines()[-1] == "2", done.stderr
    assert len(list((project / ".tayori" / "outbox").glob("*.eml"))) == 4


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-t", "missing", "-r", "people.csv"], "missing"),
        (["-t", "notice", "-r", "nope.csv"], "does not exist"),
        (["-t", "notice", "-r", "people.csv", "-c", "[1"], "not JSON"),
        (["-t", "notice", "-r", "people.csv", "-c", "[1]"], "JSON object"),
        (["-t", "notice", "-r", "people.csv", "--app", "nomodule:x"], "cannot import"),
        (["-t", "notice", "-r", "people.csv", "--sender", "bad\nx@example.com"], "sender"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project: Path, args: list[str], needle: str) -> None:
    out = tayori(project, "send", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr
