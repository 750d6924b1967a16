"""docs/operations.md, Recovery and Runbook: every command block run in order, as written,
in a fresh directory with the installed ``tayori`` (stdin not a terminal, as in a script)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
SECTIONS = ("## Recovery", "## Runbook")
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def commands(text: str) -> list[str]:
    """The ``$ `` lines of the console blocks in the Recovery and Runbook sections."""
    found: list[str] = []
    section = None
    in_block = False
    for line in text.splitlines():
        if line.startswith("## "):
            section = line.strip()
        if line.startswith("```"):
            in_block = line.strip() == "```console" and section in SECTIONS
            continue
        if in_block and line.startswith("$ "):
            found.append(line[2:])
    return found


def test_the_doc_has_both_sections_and_their_blocks() -> None:
    text = DOC.read_text()
    assert all(f"\n{s}\n" in f"\n{text}\n" for s in SECTIONS)
    cmds = commands(text)
    for needed in (
        "tayori broadcast failed",
        "tayori broadcast retry",
        "tayori dlq redrive",
        "tayori dlq purge",
        "tayori status --watch",
    ):
        assert any(c.startswith(needed) for c in cmds), needed


def test_every_command_runs_as_documented(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAYORI_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"  # a wide terminal: table cells are not folded across lines
    ran: list[tuple[str, subprocess.CompletedProcess[str]]] = []
    for cmd in commands(DOC.read_text()):
        match = EXIT.search(cmd)
        want = int(match.group(1)) if match else 0
        out = subprocess.run(
            ["bash", "-c", cmd],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == want, (cmd, out.stdout, out.stderr)
        if want == 2:  # bad input: one line, no traceback
            assert len(out.stderr.strip().splitlines()) == 1, (cmd, out.stderr)
        ran.append((cmd, out))

    def output(prefix: str, nth: int = 0) -> str:
        hits = [o.stdout + o.stderr for c, o in ran if c.startswith(prefix)]
        return hits[nth]

    assert "'title' is undefined" in output("tayori send")
    first_failed = output("tayori broadcast failed spring", 0)
    assert "dee@example.org" in first_failed and "'name' is undefined" in first_failed
    assert "dee@example.org" not in output("tayori broadcast failed spring", 1)
    assert "1 of 1 failed recipients re-queued" in output("tayori broadcast retry spring", 0)
    assert "already exists" in output("tayori send", 3) and "context" in output("tayori send", 3)
    listed = output("tayori dlq list mail")
    assert (
        "mail.send" in listed and "template 'shout'" in listed and "'name' is undefined" in listed
    )
    assert "--yes" in output("tayori dlq purge mail  #")
    # exactly one email per recipient and broadcast, whatever was retried and redriven
    people = [f"{n}@example.org" for n in ("ann", "bo", "cy", "dee")]
    sent = []
    for path in (tmp_path / ".tayori" / "outbox").glob("*.eml"):
        head = path.read_text().split("\n\n", 1)[0].splitlines()
        fields = dict(line.split(": ", 1) for line in head if ": " in line)
        sent.append((fields["Subject"], fields["To"]))
    expected = [("Room change", p) for p in people] + [("Shout", p) for p in people]
    assert sorted(sent) == sorted(expected)
    final = json.loads(output("tayori status --json", 1))
    assert final["workers"]["total"]["dead_lettered"] == 2  # dee, once per broadcast
    got = {b["id"]: (b["sent"], b["failed"], b["pending"]) for b in final["broadcasts"]}
    assert got == {"spring": (4, 0, 0), "shout": (4, 0, 0)}
