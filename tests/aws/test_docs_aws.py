"""docs/aws.md, run as a user would: its files written and its shell blocks run in order by
bash, in a fresh directory, with the installed `tayori` command, against a moto server
process (the `sh moto` block's server, on a free port) — from an empty account to a
broadcast delivered by the packaged zip under the real awslambdaric. Its IAM blocks are
the policies `tayori template` writes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.lambda_runtime import python312

from tayori.deploy.template import TemplateOptions, build_template

DOC = Path(__file__).resolve().parents[2] / "docs" / "aws.md"
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```$", re.M | re.S)
DOC_ENDPOINT = "http://127.0.0.1:5000"


def blocks() -> list[tuple[str, str, str]]:
    """(language, info, body) of every fenced block, in order."""
    return [(m[1], m[2].strip(), m[3]) for m in FENCE.finditer(DOC.read_text())]


def test_every_block_is_a_file_a_command_or_a_policy() -> None:
    kinds = set()
    for lang, info, _ in blocks():
        kind = "file" if info.startswith("file=") else info or lang
        kinds.add(kind)
        assert kind in ("file", "sh", "moto", "iam=worker", "iam=producer", "console"), (lang, info)
    assert {"file", "sh", "moto", "iam=worker", "iam=producer", "console"} == kinds


def test_the_documented_plans_print_what_the_doc_shows(tmp_path: Path) -> None:
    """Each ``console`` block: its ``$`` command run by bash with the installed `tayori` in a
    fresh directory; the lines shown under it appear in its output, in order (``...`` stands
    for lines left out, such as the embedded row, which depends on the machine's cores)."""
    consoles = [body for lang, _, body in blocks() if lang == "console"]
    assert consoles
    for body in consoles:
        [command, *shown] = body.splitlines()
        assert command.startswith("$ tayori plan "), command
        out = subprocess.run(
            ["bash", "-c", command.removeprefix("$ ")],
            cwd=tmp_path,
            env=user_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, (command, out.stderr)
        printed = iter(out.stdout.splitlines())
        for line in shown:
            if line != "...":
                assert any(p == line for p in printed), (command, line, out.stdout)


def journey_script(moto_url: str) -> str:
    lines = ["set -euo pipefail"]
    for lang, info, body in blocks():
        if lang == "sh" and info == "":
            lines.append(body.replace(DOC_ENDPOINT, moto_url))
    return "\n".join(lines) + "\n"


def write_files(root: Path) -> None:
    for _, info, body in blocks():
        if info.startswith("file="):
            path = root / info.removeprefix("file=")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)


def user_env(home: Path) -> dict[str, str]:
    """A shell as the user has it: tayori installed, python3.12 on PATH; no AWS or TAYORI
    settings from this test process (the doc exports its own)."""
    path = [str(Path(sys.executable).parent), str(Path(python312()).parent), "/usr/bin", "/bin"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TAYORI_"))}
    env.update(PATH=os.pathsep.join(path), PYTHONUNBUFFERED="1")
    return env


def moto_ses(moto_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{moto_url}/moto-api/data.json", timeout=10) as resp:
        return json.load(resp)["ses"]["RawMessage"]


def test_the_documented_journey_delivers_a_broadcast(moto_url: str, tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    write_files(root)
    script = root / "journey.sh"
    script.write_text(journey_script(moto_url))
    proc = subprocess.Popen(
        ["bash", str(script)],
        cwd=root,
        env=user_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = (root / "lambda.log").read_text() if (root / "lambda.log").exists() else ""
    assert proc.returncode == 0, f"{out[-3000:]}\n--- lambda.log ---\n{log[-2000:]}"

    assert "tayori_handler.handler" in out  # what `tayori package` told the user
    assert "missing" not in out
    sent = moto_ses(moto_url)
    to = sorted(d for m in sent for d in set(m["destinations"]))
    assert to == ["ann@example.com", "bob@example.com", "cid@example.com"]
    assert all("Subject: Welcome," in m["raw_data"] for m in sent)
    # only the zip under awslambdaric consumed the queue (no worker runs in the journey)
    [stats] = re.findall(r"tayori lambda-local stopped: (\{.*\})", out)
    stats = json.loads(stats)
    assert stats["invocations"] >= 2 and stats["function_errors"] == 0, stats
    assert stats["deleted"] == stats["records"] >= 4  # the fan-out + one send per recipient
    status = subprocess.run(
        ["tayori", "status", "--json"],
        cwd=root,
        env={
            **user_env(tmp_path),
            "TAYORI_URL": "aws://?region=us-east-1",
            "TAYORI_ENDPOINT_URL": moto_url,
            "TAYORI_BUCKET": "shop-tayori-blobs",
            "TAYORI_IDEMPOTENCY_TABLE": "shop-idempotency",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    [row] = json.loads(status.stdout)["broadcasts"]
    assert (row["total"], row["sent"], row["failed"], row["pending"]) == (3, 3, 0, 0)
    template = json.loads((root / "template.json").read_text())
    assert template["Resources"]["Worker"]["Properties"]["Handler"] == "tayori_handler.handler"
    assert (root / "dist" / "lambda.zip").is_file()  # where the docs say it is


def _label(arn: str) -> str:
    """An ARN of the doc's policies -> the resource it stands for."""
    if ":sqs:" in arn:
        return "dlq" if arn.endswith("-dlq") else "queue"
    if arn.startswith("arn:aws:s3:::"):
        return "bucket/*" if arn.endswith("/*") else "bucket"
    table = arn.split(":table/")[1]
    name, _, rest = table.partition("/")
    return ("mail-table" if name.endswith("-mail") else "idempotency-table") + (
        f"/{rest}" if rest else ""
    )


def _cfn_label(ref: Any) -> str:
    names = {
        "QueueMail": "queue",
        "DeadLetterQueueMail": "dlq",
        "ClaimCheckBucket": "bucket",
        "IdempotencyTable": "idempotency-table",
        "MailTable": "mail-table",
    }
    if "Fn::GetAtt" in ref:
        return names[ref["Fn::GetAtt"][0]]
    logical, _, rest = ref["Fn::Sub"].removeprefix("${").partition(".Arn}")
    return names[logical] + rest


def _statements(statements: list[dict[str, Any]], label: Any) -> set[tuple[frozenset, frozenset]]:
    out = set()
    for st in statements:
        refs = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        out.add((frozenset(st["Action"]), frozenset(label(r) for r in refs)))
    return out


@pytest.mark.parametrize("role", ["worker", "producer"])
def test_the_documented_iam_is_the_templates(role: str) -> None:
    [doc] = [json.loads(b) for _, info, b in blocks() if info == f"iam={role}"]
    res = build_template(TemplateOptions(app="shop", queues=("mail",)))["Resources"]
    if role == "worker":
        theirs = res["Worker"]["Properties"]["Policies"][0]["Statement"]
    else:
        theirs = res["ProducerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert _statements(doc["Statement"], _label) == _statements(theirs, _cfn_label)
