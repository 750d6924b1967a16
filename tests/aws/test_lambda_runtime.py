"""A packaged tayori app (tayori and its dependencies included) runs under the REAL
awslambdaric in a fresh Python 3.12 venv that has only boto3 and awslambdaric, on SQS
events from a moto queue: a success, a partial failure and a claim-check record."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.fixtures.lambda_runtime import (
    awslambdaric,
    make_runtime_venv,
    python312,
    write_shop,
)
from tests.fixtures.moto import FAKE_ENV

import tayori
from tayori.backends.aws import AwsBackend
from tayori.deploy.package import PackageResult, build_package
from tayori.settings import Settings

REGION = "us-east-1"
BUCKET = "shop-blobs"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[PackageResult, Path]:
    """The shop packaged with tayori included (verified by a clean Python 3.12), unzipped."""
    root = write_shop(tmp_path_factory.mktemp("project"))
    result = build_package(
        root,
        root / "dist" / "lambda.zip",
        handler="shop.tasks:app",
        python_version="3.12",
        verify_python=python312(),
    )
    task_root = root / "task"
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(task_root)
    return result, task_root


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_runtime_venv(tmp_path_factory.mktemp("lambda") / "venv")


def lambda_env(moto_url: str) -> dict[str, str]:
    return {
        **FAKE_ENV,
        "TAYORI_URL": f"aws://?region={REGION}",
        "TAYORI_ENDPOINT_URL": moto_url,
        "TAYORI_BUCKET": BUCKET,
    }


def producer(moto_url: str) -> tuple[tayori.App, Any]:
    settings = Settings(url=f"aws://?region={REGION}", endpoint_url=moto_url, bucket=BUCKET)
    backend = AwsBackend.from_settings(settings)
    backend.create_resources()
    app = tayori.App("shop", settings=settings, backend=backend)

    @app.task(queue="orders", idempotency_key="order_id")
    def record(payload: dict) -> None:  # the producer side only needs the name and queue
        raise AssertionError("runs in the Lambda, not here")

    return app, record


def receive_event(app: tayori.App, count: int) -> dict[str, Any]:
    queue = app.queue("orders")
    batch = []
    for _ in range(20):
        batch += queue.receive(10, 1)
        if len(batch) >= count:
            break
    assert len(batch) == count
    return {"Records": [m.to_lambda_record(queue.arn, REGION) for m in batch]}


def ran(moto_url: str) -> dict[str, dict[str, int]]:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="ran/").get("Contents", [])]
    return {
        k.removeprefix("ran/"): json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())
        for k in keys
    }


def test_packaged_app_under_awslambdaric_reports_partial_failures(
    packaged: tuple[PackageResult, Path], runtime_python: Path, moto_url: str, tmp_path: Path
) -> None:
    result, task_root = packaged
    assert result.handler == "tayori_handler.handler"
    assert result.import_seconds is not None and result.import_seconds > 0
    app, record = producer(moto_url)
    ok_id = record.send({"order_id": 1})
    fail_id = record.send({"order_id": 2, "fail": True})
    record.send({"order_id": 3, "pad": "x" * 300_000})  # over 256 KiB: claim-check via S3
    event = receive_event(app, 3)
    bodies = {r["messageId"]: r["body"] for r in event["Records"]}
    assert any("PayloadS3Pointer" in b for b in bodies.values())  # really offloaded
    assert ok_id in bodies

    with awslambdaric(
        runtime_python, task_root, result.handler, lambda_env(moto_url), tmp_path / "ric.log"
    ) as (api, proc):
        kind, body = api.invoke(event)
        assert kind == "response", (body, (tmp_path / "ric.log").read_text()[-2000:])
        assert body == {"batchItemFailures": [{"itemIdentifier": fail_id}]}
        # the retried message, now succeeding, and the duplicate of order 1 (idempotent)
        record.send({"order_id": 4})
        record.send({"order_id": 1})
        kind, body = api.invoke(receive_event(app, 2))
        assert (kind, body) == ("response", {"batchItemFailures": []})
        assert proc.poll() is None  # one process served every invocation (warm starts)
    done = ran(moto_url)
    assert sorted(done) == ["1", "3", "4"]
    assert done["3"]["size"] > 300_000  # the task got the full payload back from S3
    assert api.init_errors == []


def test_awslambdaric_cannot_load_an_app_attribute_path(
    packaged: tuple[PackageResult, Path], runtime_python: Path, moto_url: str, tmp_path: Path
) -> None:
    """Why `tayori package` refuses ``module.app.lambda_handler``: the bootstrap imports
    everything before the last dot as a module and reports an init error."""
    _, task_root = packaged
    log = tmp_path / "ric.log"
    with awslambdaric(
        runtime_python, task_root, "shop.tasks.app.lambda_handler", lambda_env(moto_url), log
    ) as (api, proc):
        proc.wait(timeout=30)  # the client reports the init error and exits
    [error] = api.init_errors
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "'shop.tasks' is not a package" in error["errorMessage"], error


def test_lambda_local_refuses_a_handler_the_runtime_cannot_load(
    packaged: tuple[PackageResult, Path], runtime_python: Path, moto_url: str
) -> None:
    from typer.testing import CliRunner

    from tayori.cli import app as cli

    producer(moto_url)[0].queue("orders")  # the queue exists
    _, task_root = packaged
    args = ["lambda-local", str(task_root), "--python", str(runtime_python), "-q", "orders"]
    env = lambda_env(moto_url)
    result = CliRunner().invoke(cli, [*args, "--handler", "shop.tasks.app.lambda_handler"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert "the function did not start: Runtime.ImportModuleError" in result.stderr
    missing = CliRunner().invoke(cli, [*args[:-1], "nope"], env=env)
    assert missing.exit_code == 2 and "queue 'nope'" in missing.stderr
