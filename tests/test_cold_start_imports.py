"""A deployed function's cold start imports only what its handler needs (issue 14).

A guard, not a timing test: a fresh interpreter imports a minimal function module as a
user deploys it (the AWS backend configured, nothing invoked) and builds its handler;
none of the packages below may be loaded by then. Each was on the cold path once and
cost a deployed function milliseconds it never used (``python -m benchmarks.cold_start``
measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import tayori

# what a Lambda cold start never needs: other deployments' and the CLI's dependencies,
# tayori's own CLI/dashboard/mail/planner/packaging code and the embedded backend
# (pydantic-settings is loaded: DESIGN.md makes it the settings reader)
NOT_LOADED = [
    "typer",
    "click",
    "rich",
    "jinja2",
    "starlette",
    "uvicorn",
    "celery",
    "kombu",
    "django",
    "sqlite3",
    "ctypes",
    "tayori.cli",
    "tayori.dashboard",
    "tayori.mail",
    "tayori.plan",
    "tayori.deploy",
    "tayori.demo",
    "tayori.contrib",
    "tayori.testing",
    "tayori.backends.sqlite",
    "tayori.backends.aws.sqs",
    "tayori.runtime.local",
    "tayori.producer",
    "tayori.shared",
]

FUNCTION = """
import tayori

app = tayori.App("coldstart")


@app.task(queue="mail", idempotency_key="id")
def send_one(payload: dict) -> None:
    return None


handler = app.lambda_handler
"""

PROBE = """
import json, sys
import function
function.app.handler  # built as on the first invocation
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(tmp_path: Path, **env: str) -> set[str]:
    (tmp_path / "function.py").write_text(FUNCTION)
    src = str(Path(tayori.__file__).resolve().parents[1])
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("TAYORI_")}
    environ.update(
        PYTHONPATH=os.pathsep.join([str(tmp_path), src]),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        **env,
    )
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def _offenders(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_LOADED))


def test_a_deployed_function_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    loaded = _loaded(
        tmp_path, TAYORI_URL="aws://?region=us-east-1", TAYORI_ENDPOINT_URL="http://127.0.0.1:9"
    )
    assert "tayori.consumer.handler" in loaded and "tayori.backends.aws" in loaded  # it ran
    assert _offenders(loaded) == []


def test_import_tayori_alone_loads_no_submodule() -> None:
    script = "import sys, tayori; print(sorted(m for m in sys.modules if m.startswith('tayori')))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "['tayori']"


def test_every_public_name_imports_and_is_listed() -> None:
    names: dict[str, object] = {}
    exec("from tayori import *", names)  # the star import users write
    assert set(tayori.__all__) <= set(names)
    for name in tayori.__all__:
        assert getattr(tayori, name) is names[name], name
        assert name in dir(tayori), name
    assert tayori.App.__module__ == "tayori.app" and tayori.Settings.__module__ == "tayori.settings"
    assert tayori.wire.Envelope is tayori.Envelope  # a submodule loads on access, as before
    from tayori.backends import aws

    assert aws.SqsQueue.__name__ == "SqsQueue"  # loaded with the first queue
    try:
        tayori.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("tayori.no_such_name did not raise AttributeError")
