"""`tayori setup` on moto and on the embedded backend, the worker's start-up check, and
read-only commands that never create anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from tayori.backends.aws import AwsBackend
from tayori.cli import app as cli
from tayori.errors import ResourcesMissing
from tayori.settings import Settings

REGION = "us-east-1"
runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_default_mailer(monkeypatch: pytest.MonkeyPatch) -> None:
    """tayori.mail.default reads the settings at import: import it anew per invocation env."""
    monkeypatch.delitem(sys.modules, "tayori.mail.default", raising=False)


def aws_env(moto_url: str) -> dict[str, str]:
    return {
        "TAYORI_URL": f"aws://?region={REGION}",
        "TAYORI_ENDPOINT_URL": moto_url,
        "TAYORI_BUCKET": "shop-blobs",
        "TAYORI_IDEMPOTENCY_TABLE": "shop-idempotency",
    }


def clients(moto_url: str) -> dict[str, Any]:
    return {
        s: boto3.client(s, region_name=REGION, endpoint_url=moto_url)
        for s in ("s3", "dynamodb", "sqs")
    }


def everything(c: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "buckets": [b["Name"] for b in c["s3"].list_buckets().get("Buckets", [])],
        "tables": c["dynamodb"].list_tables()["TableNames"],
        "queues": c["sqs"].list_queues().get("QueueUrls", []),
    }


def setup(moto_url: str, *args: str) -> Any:
    return runner.invoke(cli, ["setup", *args, "--json"], env=aws_env(moto_url))


def test_setup_on_aws_creates_everything_once(moto_url: str) -> None:
    c = clients(moto_url)
    dry = setup(moto_url, "-q", "orders", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert {r["action"] for r in json.loads(dry.stdout)["resources"]} == {"would create"}
    assert everything(c) == {"buckets": [], "tables": [], "queues": []}

    first = setup(moto_url, "-q", "orders", "--function-timeout", "30", "--batching-window", "5")
    assert first.exit_code == 0, first.output
    rows = {(r["kind"], r["name"]): r["action"] for r in json.loads(first.stdout)["resources"]}
    assert rows == {
        ("bucket", "shop-blobs"): "created",
        ("table", "shop-idempotency"): "created",
        ("table", "shop-mail"): "created",
        ("dead-letter queue", "orders-dlq"): "created",
        ("queue", "orders"): "created",
    }
    again = setup(moto_url, "-q", "orders", "--function-timeout", "30", "--batching-window", "5")
    assert {r["action"] for r in json.loads(again.stdout)["resources"]} == {"exists"}

    s3, ddb, sqs = c["s3"], c["dynamodb"], c["sqs"]
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket="shop-blobs")["Rules"]
    assert rule["Status"] == "Enabled" and rule["Expiration"]["Days"] == 21
    block = s3.get_public_access_block(Bucket="shop-blobs")["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    ttl = ddb.describe_time_to_live(TableName="shop-idempotency")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    mail = ddb.describe_table(TableName="shop-mail")["Table"]
    assert [i["IndexName"] for i in mail["GlobalSecondaryIndexes"]] == ["broadcasts"]
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == str(6 * 30 + 5)
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":orders-dlq")
    assert redrive["maxReceiveCount"] == 5

    low = setup(moto_url, "-q", "orders", "--function-timeout", "30", "--visibility-timeout", "60")
    assert low.exit_code == 2 and low.stderr.count("\n") == 1
    assert "under 6 x function timeout" in low.stderr


def test_setup_takes_the_apps_queues(moto_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shopapp.py").write_text(
        "import tayori\napp = tayori.App('shop')\n"
        "@app.task(queue='orders')\ndef a(p): pass\n@app.task(queue='mailings')\ndef b(p): pass\n"
    )
    result = setup(moto_url, "--app", "shopapp:app", "-q", "extra")
    assert result.exit_code == 0, result.output
    queues = sorted(
        r["name"] for r in json.loads(result.stdout)["resources"] if "queue" in r["kind"]
    )
    assert queues == sorted(
        ["orders", "orders-dlq", "mailings", "mailings-dlq", "extra", "extra-dlq"]
    )


def test_worker_stops_at_start_naming_what_is_missing(
    moto_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    result = runner.invoke(
        cli, ["worker", "--app", "tayori.mail.default:app"], env=aws_env(moto_url)
    )
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in result.output
    for name in (
        "bucket 'shop-blobs'",
        "table 'shop-idempotency'",
        "table 'shop-mail'",
        "queue 'mail'",
    ):
        assert name in line
    assert "`tayori setup --app tayori.mail.default:app`" in line
    # the producer side too: `tayori send` stops before anything is half-sent
    (tmp_path / "to.csv").write_text("email\na@example.com\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hi.txt").write_text("Hi\n")
    monkeypatch.chdir(tmp_path)
    send = runner.invoke(cli, ["send", "-t", "hi", "-r", "to.csv"], env=aws_env(moto_url))
    assert send.exit_code == 2 and send.stderr.count("\n") == 1, send.output
    assert "bucket 'shop-blobs'" in send.stderr and "tayori setup --app" in send.stderr

    settings = Settings(
        url=f"aws://?region={REGION}",
        endpoint_url=moto_url,
        bucket="shop-blobs",
        idempotency_table="shop-idempotency",
    )
    backend = AwsBackend.from_settings(settings)
    with pytest.raises(ResourcesMissing) as err:
        backend.check_resources(queues=["mail"])
    assert err.value.missing == ["bucket 'shop-blobs'", "table 'shop-idempotency'", "queue 'mail'"]
    assert setup(moto_url, "--app", "tayori.mail.default:app").exit_code == 0
    backend.check_resources(tables=["shop-mail"], queues=["mail"])  # all there now


def test_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    env = aws_env("http://127.0.0.1:9")  # nothing listens on the discard port
    result = runner.invoke(cli, ["worker", "--app", "tayori.mail.default:app"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("tayori: cannot check the AWS resources:")
    assert result.stderr.count("\n") == 1


def test_read_only_commands_create_nothing(moto_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    c = clients(moto_url)
    status = runner.invoke(cli, ["status", "--json"], env=aws_env(moto_url))
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) == {"queues": [], "broadcasts": [], "workers": None}
    dlq = runner.invoke(cli, ["dlq", "list", "orders"], env=aws_env(moto_url))
    assert dlq.exit_code == 2 and "does not exist" in dlq.stderr
    assert everything(c) == {"buckets": [], "tables": [], "queues": []}

    monkeypatch.chdir(tmp_path)
    embedded = {"TAYORI_URL": "sqlite:///./store"}
    status = runner.invoke(cli, ["status", "--json"], env=embedded)
    assert status.exit_code == 2 and "no tayori store at store" in status.stderr
    dlq = runner.invoke(cli, ["dlq", "list", "orders"], env=embedded)
    assert dlq.exit_code == 2 and "no tayori store" in dlq.stderr
    assert not (tmp_path / "store").exists()


def test_setup_on_the_embedded_backend(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"TAYORI_URL": "sqlite:///./store"}
    dry = runner.invoke(cli, ["setup", "-q", "orders", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    assert not (tmp_path / "store").exists()
    first = runner.invoke(cli, ["setup", "-q", "orders", "--json"], env=env)
    rows = {(r["kind"], r["name"]): r["action"] for r in json.loads(first.stdout)["resources"]}
    assert rows == {
        ("directory", "store"): "created",
        ("dead-letter queue", "orders-dlq"): "created",
        ("queue", "orders"): "created",
    }
    again = runner.invoke(cli, ["setup", "-q", "orders", "--json"], env=env)
    assert {r["action"] for r in json.loads(again.stdout)["resources"]} == {"exists"}
    status = runner.invoke(cli, ["status", "--json"], env=env)
    assert [q["queue"] for q in json.loads(status.stdout)["queues"]] == ["orders"]
    none = runner.invoke(cli, ["setup"], env=env)
    assert none.exit_code == 2 and "pass --app module:app or --queue NAME" in none.stderr


def test_status_lists_broadcasts_from_the_dynamodb_mail_store(
    moto_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.subject").write_text("Hi")
    (tmp_path / "templates" / "hello.txt").write_text("Hello {{ email }}\n")
    (tmp_path / "to.csv").write_text("email\na@example.com\nb@example.com\n")
    env = aws_env(moto_url)
    assert runner.invoke(cli, ["setup", "--app", "tayori.mail.default:app"], env=env).exit_code == 0
    sent = runner.invoke(cli, ["send", "-t", "hello", "-r", "to.csv", "--json"], env=env)
    assert sent.exit_code == 0, sent.output
    bid = json.loads(sent.stdout)["broadcast_id"]
    status = runner.invoke(cli, ["status", "--json"], env=env)
    [row] = json.loads(status.stdout)["broadcasts"]
    assert row["id"] == bid and row["total"] == 2 and row["template"] == "hello"
