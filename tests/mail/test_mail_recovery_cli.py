"""Broadcast recovery through the CLI, as an operator runs it: send, list the failed, fix,
retry, no duplicates; send refuses what would queue a broken or mixed broadcast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PEOPLE = [
    {"email": "a@example.org", "name": "Ann"},
    {"email": "b@example.org", "name": "Bo"},
    {"email": "c@example.org", "name": "Cy"},
    {"email": "d@example.org"},  # no name: the template's {{ name }} fails for d only
    "not-an-address",
]


def tayori(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAYORI_")}
    env["TAYORI_URL"] = "sqlite:///./.tayori"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["tayori", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "notice.subject").write_text("{{ title }}")
    (tmp_path / "templates" / "notice.txt").write_text("Hi {{ name }}")
    (tmp_path / "people.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PEOPLE))
    return tmp_path


def _status(project: Path) -> dict:
    return json.loads(tayori(project, "status", "--json").stdout)


def _outbox(project: Path) -> list[str]:
    """Recipients of every .eml written, one entry per copy."""
    found = []
    for path in (project / ".tayori" / "outbox").glob("*.eml"):
        to = [ln for ln in path.read_text().splitlines() if ln.lower().startswith("to:")]
        found.append(to[0].split(":", 1)[1].strip())
    return sorted(found)


def _one_line(out: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert out.returncode == code, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_failed_recipients_are_listed_and_retried_exactly_once(project: Path) -> None:
    ctx = '{"title": "Spring"}'
    out = tayori(
        project, "send", "-t", "notice", "-r", "people.jsonl", "-c", ctx, "--broadcast-id", "spring"
    )
    assert out.returncode == 0 and "5 recipients queued" in out.stdout, out.stderr
    assert tayori(project, "worker", "--until-idle").returncode == 0

    out = tayori(project, "broadcast", "failed", "spring", "--json")
    assert out.returncode == 1  # there are failed recipients
    failed = {f["recipient"]: f["reason"] for f in json.loads(out.stdout)["failed"]}
    assert set(failed) == {"d@example.org", "not-an-address"}
    assert "name" in failed["d@example.org"]
    human = tayori(project, "broadcast", "failed", "spring")
    assert "d@example.org" in human.stdout and "broadcast retry spring" in human.stderr
    assert _outbox(project) == ["a@example.org", "b@example.org", "c@example.org"]

    # the operator fixes the template, then re-sends to exactly the failed recipients
    (project / "templates" / "notice.txt").write_text("Hi {{ name | default('friend') }}")
    out = tayori(project, "broadcast", "retry", "spring", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["requeued"], result["failed"]) == (1, 2)
    assert result["not_found"] == ["not-an-address"]  # refused at fan-out: no dead letter
    human = tayori(project, "broadcast", "retry", "spring")  # again, before a worker ran
    assert "0 of 2 failed recipients re-queued" in human.stdout, human.stderr
    assert tayori(project, "dlq", "redrive", "mail").returncode == 0
    assert tayori(project, "worker", "--until-idle").returncode == 0
    assert _outbox(project) == ["a@example.org", "b@example.org", "c@example.org", "d@example.org"]
    (row,) = _status(project)["broadcasts"]
    assert (row["sent"], row["failed"]) == (4, 1)

    again = json.loads(tayori(project, "broadcast", "retry", "spring", "--json").stdout)
    assert again["requeued"] == 0 and again["not_found"] == ["not-an-address"]
    assert tayori(project, "worker", "--until-idle").returncode == 0
    assert len(_outbox(project)) == 4


def test_unknown_broadcast_is_one_line_exit_2(project: Path) -> None:
    assert tayori(project, "send", "-t", "notice", "-r", "people.jsonl", "-c", '{"title": "x"}')
    for verb in ("failed", "retry"):
        line = _one_line(tayori(project, "broadcast", verb, "nosuch"))
        assert "no broadcast 'nosuch'" in line


def test_send_prerenders_before_queueing_anything(project: Path) -> None:
    line = _one_line(tayori(project, "send", "-t", "notice", "-r", "people.jsonl"))
    assert "title" in line  # undefined in the context: caught before anything is queued
    line = _one_line(tayori(project, "send", "-t", "nosuch", "-r", "people.jsonl"))
    assert "nosuch" in line and "missing" in line
    out = tayori(project, "status", "--json")
    if out.returncode == 0:  # a store may exist, but without a ghost broadcast or a message
        data = json.loads(out.stdout)
        assert data["broadcasts"] == []
        assert all(q["visible"] == 0 for q in data["queues"])
    else:
        assert "no tayori store" in out.stderr


def test_reusing_a_broadcast_id_with_other_content_is_refused(project: Path) -> None:
    send = ("send", "-t", "notice", "-r", "people.jsonl", "--broadcast-id", "b1")
    assert tayori(project, *send, "-c", '{"title": "One"}').returncode == 0
    line = _one_line(tayori(project, *send, "-c", '{"title": "Two"}'))
    assert "b1" in line and "already exists" in line and "context" in line
    (project / "templates" / "other.txt").write_text("{{ title }}")
    (project / "templates" / "other.subject").write_text("{{ title }}")
    other = ("send", "-t", "other", "-r", "people.jsonl", "--broadcast-id", "b1")
    line = _one_line(tayori(project, *other, "-c", '{"title": "One"}'))
    assert "template 'notice'" in line
    out = tayori(project, *send, "-c", '{"title": "One"}')  # the same broadcast: a safe re-run
    assert out.returncode == 0 and "already exists" in out.stdout and "idempotently" in out.stdout
    assert tayori(project, "worker", "--until-idle").returncode == 0
    assert len(_outbox(project)) == 3  # a, b, c once; d has no name, the last is no address
