"""CloudWatch metrics on Lambda (issue 13, section 2): EMF per task and invocation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tayori
from tayori.errors import PermanentError
from tayori.runtime.local import LambdaContext


def _app(tmp_path: Path, metrics: bool) -> tayori.App:
    settings = tayori.Settings(url=f"sqlite:///{tmp_path / 'store'}", metrics=metrics)
    return tayori.App("shop", settings=settings)


def _event(app: tayori.App, queue: str) -> dict:
    q = app.queue(queue)
    messages = q.receive(10, 0)
    return {"Records": [m.to_lambda_record(q.arn, "us-east-1") for m in messages]}


def _emf(out: str) -> list[dict]:
    """EMF documents printed to stdout; one-value metrics unwrapped from their list."""
    docs = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    for doc in docs:
        for key, value in doc.items():
            if isinstance(value, list) and len(value) == 1 and key != "_aws":
                doc[key] = value[0]
    return docs


def test_the_handler_emits_emf_per_task_and_a_cold_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path, metrics=True)

    @app.task(queue="jobs", idempotency_key="n")
    def work(p: dict) -> None:
        if p["n"] == 2:
            raise PermanentError("bad")
        if p["n"] == 3:
            raise ValueError("later")

    work.send_many([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 1}, {"n": 4, "big": "x" * 300_000}])
    capsys.readouterr()
    app.lambda_handler(_event(app, "jobs"), LambdaContext("shop-jobs", 30))
    docs = _emf(capsys.readouterr().out)
    cold = [d for d in docs if "cold_start" in d]
    assert len(cold) == 1 and cold[0]["function"] == "shop-jobs"
    (per_task,) = [d for d in docs if d.get("task") == "work"]
    assert per_task["function"] == "shop-jobs" and per_task["service"] == "shop"
    assert per_task["succeeded"] == 3  # n=1, n=4 and the duplicate of n=1
    assert per_task["duplicates_skipped"] == 1
    assert per_task["dead_lettered"] == 1 and per_task["retried"] == 1
    assert per_task["claim_check_reads"] == 1
    assert len(per_task["duration"]) == 3  # each record that completed (a duplicate too)
    metric_names = {m["Name"] for d in per_task["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"succeeded", "retried", "dead_lettered", "duration"} <= metric_names
    assert (
        per_task["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["function", "task", "service"]]
        or "task" in per_task["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    )
    # a second invocation: no second cold start
    work.send({"n": 5})
    app.lambda_handler(_event(app, "jobs"), LambdaContext("shop-jobs", 30))
    docs = _emf(capsys.readouterr().out)
    assert not any("cold_start" in d for d in docs)
    assert [d["succeeded"] for d in docs if d.get("task") == "work"] == [1]


def test_metrics_are_off_by_default_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path, metrics=False)

    @app.task(queue="jobs")
    def work(p: dict) -> None: ...

    work.send({"n": 1})
    capsys.readouterr()
    app.lambda_handler(_event(app, "jobs"), LambdaContext("shop-jobs", 30))
    assert _emf(capsys.readouterr().out) == []
