"""Every benchmark runs in its --smoke size and writes sane JSON (correctness only, never
timing). Needs redis-server on PATH (Debian package `redis-server`) and the `bench` extra."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def needs_redis_fixture() -> None:
    # a missing broker is a broken set-up, not a pass: .ci/run installs it
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not on PATH: apt-get install redis-server", pytrace=False)


needs_redis = pytest.mark.usefixtures("needs_redis_fixture")


@pytest.fixture
def run_smoke(tmp_path: Path) -> Callable[..., dict]:
    """Run one benchmark at --smoke size, writing into a temp dir (never the committed results)."""

    def run(name: str, *args: str, result: str | None = None) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", "--smoke", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, "TAYORI_BENCH_RESULTS": str(tmp_path)},
        )
        assert out.returncode == 0, out.stderr[-3000:]
        name = result or name
        data = json.loads((tmp_path / f"{name}.smoke.json").read_text())
        assert data["benchmark"] == name and data["smoke"] is True
        assert (tmp_path / f"{name}.smoke.png").stat().st_size > 1000
        return data

    return run


@needs_redis
def test_broadcast_vs_celery_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("broadcast_vs_celery")
    n = data["emails"]
    systems = {r["system"] for r in data["runs"]}
    pairs = data["enqueue_pairs"]
    assert len(pairs["tayori_send_many_s"]) == len(pairs["celery_delay_loop_s"]) == 2
    assert data["ratios"]["enqueue_celery_delay_loop_over_tayori_send_many"] > 0
    assert any(s.startswith("tayori") for s in systems)
    assert any(s.startswith("celery prefork") for s in systems)
    assert any(s.startswith("celery threads") for s in systems)
    for r in data["runs"]:
        assert r["sent_unique"] == n  # every email sent once, by every system
        assert r["drain_s"] > 0 and r["enqueue_s"] > 0
        # nobody beats the physical bound N x latency / concurrency
        assert r["drain_s"] >= r["ideal_drain_s"] * 0.95
        timeline = data["timelines"][r["system"]]
        assert timeline[0][1] == n and timeline[-1][1] == 0
    for r in data["runs"]:
        if r["system"].startswith("tayori"):
            assert r["predicted_drain_s"] > 0 and "prediction_error" in r
    assert all(v > 0 for v in data["ratios"].values())
    assert set(data["targets_met"]) >= {"enqueue_20x_faster_than_delay_loop"}


@needs_redis
def test_queue_throughput_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("queue_throughput")
    for key in ("round_trip", "end_to_end", "celery_noop"):
        assert set(data[key]) == {"1", "2", "4"}
        for r in data[key].values():
            assert r["messages"] > 0 and r["msgs_per_s"] > 0
    assert data["end_to_end"]["1"]["messages"] == 200  # every enqueued message handled once
    assert data["celery_noop"]["1"]["messages"] == 200
    assert data["persist_queue"]["msgs_per_s"] > 0
    assert set(data["ratios"]) == {
        "tayori_end_to_end_over_celery_noop",
        "tayori_round_trip_over_persist_queue",
    }


def test_rate_limit_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("rate_limit")
    (r,) = data["runs"]
    assert r["delivered"] == r["emails"] == r["unique_recipients"]
    assert r["throttled"] == 0
    # the limiter never lets more through than the limit (a correctness bound, not speed)
    assert r["achieved_per_s"] <= r["limit_per_s"] * 1.05


def test_fanout_memory_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("fanout_memory")
    assert data["recipients"] == 5000
    assert all(w["idle"] for w in data["workers"]) and data["check"]["left_in_queue"] == 0
    # every recipient sent exactly once (the mail store's outcome rows)
    assert data["check"]["sent"] == 5000 == data["check"]["total"]
    assert data["targets_met"]["every_recipient_sent_once"] is True
    # 5,000 sends + the fan-out messages (the inline-limit split) were all processed
    assert sum(w["records_processed"] for w in data["workers"]) >= 5000
    assert len(data["workers"]) == data["processes"] == 2
    assert data["end_to_end_s"] > data["producer"]["seconds"]
    for role in ("baseline", "producer", "worker"):
        assert 10 < data[role]["peak_rss_mb"] < 2000


def test_cold_start_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("cold_start")
    assert len(data["import_s"]) == data["runs"] == 3
    assert data["median_import_ms"] > 0 and data["median_minimal_ms"] > 0
    assert len(data["minimal_import_s"]) == 3 and data["ratio_over_minimal"] > 0
    packages = {p["package"] for p in data["top_packages"]}
    assert "tayori" in packages and "aws_lambda_powertools" in packages
    assert data["bytecode"] == "as found"


def test_cold_start_bytecode_smoke(run_smoke: Callable[..., dict]) -> None:
    data = run_smoke("cold_start", "--bytecode", result="cold_start_bytecode")
    assert data["bytecode"] == "every module from cached bytecode"
    assert len(data["import_s"]) == len(data["minimal_import_s"]) == data["runs"] == 3
    assert data["ratio_over_minimal"] > 0
    assert "tayori" in {p["package"] for p in data["top_packages"]}


def test_cold_start_zip_smoke(run_smoke: Callable[..., dict]) -> None:
    """Both handlers packaged by `tayori package` (pip for the Lambda platform), then
    imported from the unzipped zips by a read-only python3.12."""
    data = run_smoke("cold_start_zip", result="cold_start_zip")
    zips = data["zips"]
    assert set(zips) == {"tayori-bytecode", "tayori-source", "minimal-bytecode", "minimal-source"}
    for name, entry in zips.items():
        assert entry["bytecode"] is name.endswith("bytecode")
        assert len(entry["import_s"]) == data["runs"] == 2 and entry["median_ms"] > 0
    assert zips["tayori-bytecode"]["zipped_bytes"] > zips["tayori-source"]["zipped_bytes"]
    assert data["ratio_over_minimal_bytecode"] > 0 and data["tayori_source_over_bytecode"] > 0


def test_in_invocation_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("in_invocation")
    seq, par = data["runs"]
    assert (seq["record_concurrency"], par["record_concurrency"]) == (1, 10)
    for r in data["runs"]:
        assert r["sent_unique"] == r["records"] == 30  # every record sent once
        assert r["invocations"] >= 3 and r["billed_gb_s"] > 0
        assert r["planner"]["billed_gb_s"] > 0 and 0 < r["last_send_s"] <= r["drain_s"]
    assert set(data["ratios"]) == {"invocation_speedup", "billed_gb_s_ratio"}


@needs_redis
def test_celery_migration_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("celery_migration")
    n = data["tasks"]
    systems = [r["system"] for r in data["runs"]]
    assert [s.split(" C=")[0].split(" x")[0] for s in systems] == [
        "tayori option A",
        "tayori option B",
        "celery prefork",
        "celery threads",
    ]
    for r in data["runs"]:
        assert r["sent_unique"] == n and r["drain_s"] > 0  # every task ran, in every system
    assert set(data["ratios"]) >= {"drain_option_B_over_option_A"}


def test_cpu_per_message_smoke(run_smoke: Callable[[str], dict]) -> None:
    data = run_smoke("cpu_per_message")
    assert set(data["runs"]) == {"1", "10", "1 unpinned", "10 unpinned"}
    for name, run in data["runs"].items():
        assert run["pin_cpu"] is ("unpinned" not in name)
        for t in run["tries"]:
            assert t["deleted"] == t["messages"] == 300 and t["failed_records"] == 0
            assert 0 < t["cpu_ms_per_message"] < 100
    assert set(data["targets_met"]) == {"c10_at_most_0_15_ms"}
