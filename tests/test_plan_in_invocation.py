"""The planner's in-invocation concurrency (``@app.task(concurrency=N)``): the simulator's
``width``, the Lambda run with and without it, the function timeout, the CLI, and the check
against a real drain through the local runtime (drain time and billed duration within 20%)."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tayori.errors import ConfigError
from tayori.plan import PlanInput, Scaling, plan, simulate

# --------------------------------------------------------------------------- simulate


def test_a_batch_takes_ceil_b_over_n_rounds() -> None:
    def drain(width: int) -> float:
        return simulate(
            100,
            batch_size=10,
            message_s=0.05,
            batch_overhead_s=0.0,
            scaling=Scaling(1, 1),
            width=width,
        ).drain_s

    assert drain(1) == pytest.approx(10 * 10 * 0.05)
    assert drain(10) == pytest.approx(10 * 0.05)
    assert drain(3) == pytest.approx(10 * 4 * 0.05)  # ceil(10 / 3) = 4 rounds
    assert drain(50) == pytest.approx(10 * 0.05)  # no wider than the batch


def test_the_rate_cap_is_shared_by_every_record_in_flight() -> None:
    sim = simulate(
        2000,
        batch_size=10,
        message_s=0.05,
        batch_overhead_s=0.0,
        scaling=Scaling(50, 50),
        rate_cap=100,
        width=10,
    )
    assert sim.drain_s == pytest.approx(20.0, rel=0.01)  # N / rate, not faster
    # 50 executions x 10 records share 100/s: a batch of 10 waits ~5 s, and that is billed
    assert sim.longest_s == pytest.approx(5.0, rel=0.05)
    assert sim.busy_seconds == pytest.approx(50 * 20.0, rel=0.05)


# --------------------------------------------------------------------------- plan


def test_plan_shows_lambda_with_and_without_in_invocation_concurrency() -> None:
    base = {"emails": 100_000, "latency_ms": 50.0}
    assert plan(PlanInput(**base, provider_rate=1000)).in_invocation is None  # default: off
    p = plan(PlanInput(**base, provider_rate=1000, task_concurrency=10))
    side = p.in_invocation
    assert side is not None and side["task_concurrency"] == 10
    off, on = side["without"], side["with"]
    assert on is p.aws and off["task_concurrency"] == 1 and on["task_concurrency"] == 10
    # 50 executions x 10 one after another (~85 ms each) cannot reach 1000/s; side by side can
    assert off["drain_s"] > 1.5 * 100
    assert on["drain_s"] == pytest.approx(100, rel=0.05)
    assert on["gb_seconds"] < off["gb_seconds"] / 1.5
    assert on["cost"]["lambda_compute"] < off["cost"]["lambda_compute"]
    assert on["cost"]["lambda_requests"] == off["cost"]["lambda_requests"]  # same batches
    assert on["invocations"] == off["invocations"]
    assert on["recommended_max_concurrency"] < off["recommended_max_concurrency"]
    assert on["longest_invocation_s"] < off["longest_invocation_s"]
    # no provider rate: a batch of 10 takes about one record's time, not ten
    free = plan(PlanInput(**base, provider_rate=None, task_concurrency=10)).in_invocation
    assert free is not None
    ratio = free["without"]["gb_seconds"] / free["with"]["gb_seconds"]
    assert 3 < ratio < 10
    # a low rate binds either way: both wait on the limiter, and both pay for the wait
    slow = plan(PlanInput(**base, provider_rate=14, task_concurrency=10)).in_invocation
    assert slow is not None
    for run in (slow["without"], slow["with"]):
        assert run["drain_s"] >= 100_000 / 14
    assert slow["with"]["gb_seconds"] == pytest.approx(slow["without"]["gb_seconds"], rel=0.05)


def test_a_batch_that_cannot_end_within_the_function_timeout_is_refused() -> None:
    long = {"emails": 10_000, "provider_rate": None, "batch_size": 1000, "latency_ms": 100.0}
    with pytest.raises(ConfigError, match="over the function timeout of 60 s"):
        plan(PlanInput(**long))  # 1000 x ~125 ms one after another
    assert plan(PlanInput(**long, task_concurrency=100)).aws["longest_invocation_s"] < 60
    with pytest.raises(ConfigError, match="function timeout of 1 s"):
        plan(PlanInput(**long, task_concurrency=100, timeout_s=1))


def test_batches_stretched_past_the_timeout_by_the_rate_are_warned() -> None:
    p = plan(PlanInput(emails=100_000, provider_rate=14, max_concurrency=1000, task_concurrency=10))
    assert p.aws["longest_invocation_s"] > 60
    [warning] = [n for n in p.notes if n.startswith("warning:")]
    assert "over the function timeout of 60 s" in warning and "MaximumConcurrency" in warning


@pytest.mark.parametrize("kwargs", [{"task_concurrency": 0}, {"timeout_s": 0}, {"timeout_s": 901}])
def test_bad_in_invocation_input_is_a_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        PlanInput(emails=10, provider_rate=1.0, **kwargs)


# --------------------------------------------------------------------------- CLI


def test_cli_json_and_text_side_by_side(cli: typer.Typer) -> None:
    args = ["plan", "--emails", "100000", "--provider-rate", "1000", "--task-concurrency", "10"]
    data = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    side = data["in_invocation"]
    assert side["task_concurrency"] == 10
    for run in (side["without"], side["with"]):
        assert {"drain_s", "gb_seconds", "cost", "peak_concurrency", "task_concurrency"} <= set(run)
        assert set(run["cost"]) >= {"lambda_compute", "lambda_requests", "total"}
    assert side["with"]["gb_seconds"] < side["without"]["gb_seconds"]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "in-invocation concurrency (@app.task(concurrency=10))" in text.stdout
    for row in ("Lambda GB-seconds", "Lambda duration cost", "Lambda request cost", "drain"):
        assert row in text.stdout
    off = json.loads(CliRunner().invoke(cli, [*args[:5], "--json"]).stdout)
    assert off["in_invocation"] is None


@pytest.mark.parametrize(
    "extra",
    [
        ["--task-concurrency", "0"],
        ["--task-concurrency", "ten"],
        ["--timeout", "0"],
        ["--batch-size", "1000", "--latency-ms", "100"],  # a batch over the 60 s timeout
    ],
)
def test_cli_bad_in_invocation_input_one_line_exit_2(cli: typer.Typer, extra: list[str]) -> None:
    result = CliRunner().invoke(cli, ["plan", "--emails", "10", "--provider-rate", "1", *extra])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("tayori plan: ")


# --------------------------------------------------------------------------- validation


def local_drain(n: int, latency_s: float, executions: int, width: int) -> tuple[float, float]:
    """(drain s, billed s) of ``n`` sends through the local runtime, SQLite in a temp dir.

    Drain: runtime start to the last send finished; billed: the sum of the handler's
    invocation durations, timed around it as Lambda bills them."""
    import tayori
    from tayori.runtime.local import RuntimeConfig

    with tempfile.TemporaryDirectory() as tmp:
        app = tayori.App(f"inv{width}", settings=tayori.Settings(url=f"sqlite:///{tmp}"))
        lock = threading.Lock()
        finished: list[float] = []
        durations: list[float] = []

        @app.task(queue="mail", idempotency_key="n", concurrency=width)
        def send(payload: dict) -> None:
            time.sleep(latency_s)  # the provider's latency: I/O, not CPU
            with lock:
                finished.append(time.perf_counter())

        def timed(event: dict, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return app.lambda_handler(event, context)
            finally:
                with lock:
                    durations.append(time.perf_counter() - started)

        send.send_many({"n": i} for i in range(n))
        config = RuntimeConfig(
            concurrency=executions, initial_concurrency=executions, batch_size=10
        )
        started = time.perf_counter()
        app.runtime(config, handler=timed).run_until_idle(timeout=60)
        app.backend.close()
    assert len(finished) == n
    return max(finished) - started, sum(durations)


@pytest.mark.parametrize(("width", "n"), [(1, 200), (10, 800)])
def test_planner_predicts_in_invocation_concurrency_within_20_percent(width: int, n: int) -> None:
    """40 ms sends, batch 10, runtime concurrency 4: one after another, then 10 at a time
    (800 messages there, so that the 20 waves of ~50 ms outweigh the runtime's start)."""
    latency_ms, executions = 40.0, 4
    predicted = plan(
        PlanInput(
            emails=n,
            provider_rate=None,
            latency_ms=latency_ms,
            embedded_concurrency=executions,
            task_concurrency=width,
        )
    ).embedded
    runs = [local_drain(n, latency_ms / 1000, executions, width) for _ in range(3)]
    # fastest of three, as test_planner_predicts_the_local_runtime_within_20_percent: other
    # processes on the 2 cores only add time
    drain = min(r[0] for r in runs)
    billed = min(r[1] for r in runs)
    drain_error = abs(predicted["drain_s"] - drain) / drain
    billed_error = abs(predicted["busy_s"] - billed) / billed
    report = f"predicted {predicted['drain_s']:.3f}s / {predicted['busy_s']:.3f}s, measured {runs}"
    assert drain_error <= 0.20, report
    assert billed_error <= 0.20, report
