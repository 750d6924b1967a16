"""The core commands through the real console script and Typer app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tayori
from tayori.cli import app as cli
from tayori.demo import run_demo

runner = CliRunner()


def test_demo_json_summary_through_the_console_script() -> None:
    out = subprocess.run(
        ["tayori", "demo", "--recipients", "300", "--latency-ms", "5", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert set(summary) >= {
        "recipients",
        "sent",
        "duplicates_skipped",
        "failed",
        "dead_lettered",
        "elapsed_s",
        "throughput_per_s",
        "peak_concurrency",
    }
    assert summary["recipients"] == summary["sent"] == 300
    assert summary["failed"] == summary["dead_lettered"] == 0
    assert summary["provider_duplicates"] == 0
    assert summary["peak_concurrency"] >= 2 and summary["throughput_per_s"] > 0


def test_demo_under_chaos_delivers_each_recipient_exactly_once() -> None:
    """Duplicate deliveries, 5% transient provider errors and a killed execution."""
    summary = run_demo(400, latency_ms=5, concurrency=20, chaos=True, function_timeout=2.0, seed=7)
    assert summary.chaos is not None
    assert summary.chaos["executions_killed"] == 1
    assert summary.chaos["duplicate_deliveries_injected"] > 0
    assert summary.chaos["transient_errors_injected"] > 0
    assert summary.sent == 400 and summary.failed == 0 and summary.dead_lettered == 0
    assert summary.provider_duplicates == 0
    assert summary.duplicates_skipped > 0  # the kill's completed half came back and was skipped


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAYORI_URL", f"sqlite:///{tmp_path}/store")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobs.py").write_text(
        textwrap.dedent(
            """
            import time
            import tayori

            app = tayori.App("jobs", settings=tayori.Settings(visibility_timeout=30))

            @app.task(queue="work", idempotency_key="n")
            def work(payload):
                if payload["n"] < 0:
                    raise tayori.PermanentError(f"negative {payload['n']}")
                time.sleep(payload.get("sleep", 0))
            """
        )
    )
    return tmp_path


def _jobs_app() -> tayori.App:
    sys.path.insert(0, os.getcwd())
    try:
        import importlib

        import jobs

        return importlib.reload(jobs).app
    finally:
        sys.path.pop(0)


def test_status_and_dlq_list_redrive_purge(store: Path) -> None:
    app = _jobs_app()
    app.tasks["work"].send_many([{"n": -1}, {"n": -2}, {"n": 3}])
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["queues"]
    assert row == {
        "queue": "work",
        "visible": 3,
        "in_flight": 0,
        "delayed": 0,
        "dlq": "work-dlq",
        "dlq_depth": 0,
    }
    stats = app.runtime(
        tayori.runtime.local.RuntimeConfig(concurrency=2, poll_wait_seconds=0)
    ).run_until_idle(timeout=60)
    assert stats.idle
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 1  # the job ran but something is dead-lettered
    assert json.loads(result.stdout)["queues"][0]["dlq_depth"] == 2

    listed = runner.invoke(cli, ["dlq", "list", "work", "--json"])
    assert listed.exit_code == 0, listed.output
    letters = json.loads(listed.stdout)["messages"]
    assert sorted(m["error"] for m in letters) == ["negative -1", "negative -2"]
    assert {m["error_type"] for m in letters} == {"PermanentError"}

    moved = runner.invoke(cli, ["dlq", "redrive", "work", "--json"])
    assert json.loads(moved.stdout) == {"from": "work-dlq", "to": "work", "moved": 2}
    assert app.queue("work").stats().visible == 2
    keys = {tayori.Envelope.parse(m.body).key for m in app.queue("work").receive(10, 0, 0)}
    assert len(keys) == 2  # the envelope (and its idempotency key) survives the redrive

    app.runtime(
        tayori.runtime.local.RuntimeConfig(concurrency=2, poll_wait_seconds=0)
    ).run_until_idle(timeout=60)
    purged = runner.invoke(cli, ["dlq", "purge", "work-dlq", "--yes", "--json"])
    assert json.loads(purged.stdout) == {"dlq": "work-dlq", "purged": 2}
    assert runner.invoke(cli, ["status", "--json"]).exit_code == 0


def test_bad_usage_is_one_line_and_exit_2(store: Path) -> None:
    _jobs_app().queue("work")  # the store exists; the queue asked for does not
    result = runner.invoke(cli, ["dlq", "list", "no-such-queue"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr
    result = runner.invoke(cli, ["dlq", "list", "../../etc"])
    assert result.exit_code == 2 and "invalid queue name" in result.stderr
    result = runner.invoke(cli, ["worker", "--app", "nosuchmodule:app"])
    assert result.exit_code == 2 and "cannot import" in result.stderr
    result = runner.invoke(cli, ["worker", "--app", "jobs:app", "--batch-size", "50"])
    assert result.exit_code == 2 and "batching window" in result.stderr
    assert "Traceback" not in result.output


def test_worker_processes_stop_gracefully_on_sigterm_and_lose_nothing(store: Path) -> None:
    app = _jobs_app()
    app.tasks["work"].send_many({"n": i, "sleep": 0.05} for i in range(300))
    proc = subprocess.Popen(
        [
            "tayori",
            "worker",
            "--app",
            "jobs:app",
            "--processes",
            "2",
            "--concurrency",
            "4",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(store)},
    )
    queue = app.queue("work")
    deadline = time.monotonic() + 60
    while queue.stats().visible > 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert len(report["processes"]) == 2
    deleted = report["total"]["deleted"]
    stats = queue.stats()
    assert 0 < deleted < 300
    # nothing lost: every message was processed and deleted, or is back in the queue
    # (in flight ones were finished, received-but-unstarted ones released at once)
    assert stats.in_flight == 0
    assert deleted + stats.visible == 300
