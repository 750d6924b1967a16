"""The dashboard on the AWS backend (a real moto server): queues, a claim-checked dead
letter, redrive and purge, and a broadcast's failed recipients from the DynamoDB store.
Configured the way ``tayori dashboard`` configures itself: from ``TAYORI_*`` settings."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from tayori.backends.aws.mail import DynamoDBMailStore, create_mail_table, mail_table_name
from tayori.backends.base import Attribute, QueueSpec, RedrivePolicy
from tayori.cli.dashboard import build_config
from tayori.dashboard import csrf
from tayori.dashboard.server import create_app
from tayori.wire.claimcheck import offload
from tayori.wire.envelope import Envelope

BUCKET = "tayori-dash"


@pytest.fixture
def config(moto_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAYORI_URL", "aws://?region=us-east-1")
    monkeypatch.setenv("TAYORI_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("TAYORI_BUCKET", BUCKET)
    cfg = build_config(None, 0.1)
    assert cfg.history is not None  # AWS: CloudWatch history is wired in
    return cfg


def _seed(backend) -> tuple[str, str]:
    backend.client("s3").create_bucket(Bucket=BUCKET)
    dlq = backend.create_queue("jobs-dlq")
    backend.create_queue("jobs", QueueSpec(redrive=RedrivePolicy("jobs-dlq", 3)))
    big = Envelope.new("jobs.work", {"blob": "x" * 100_000}).to_json()
    body, attrs = offload(big, {}, backend.blob_store(BUCKET), 1000)
    attrs["tayori-error"] = Attribute.string("PermanentError: bad <b>thing</b>")
    dlq.send(body, attrs)
    small = Envelope.new("jobs.work", {"n": 1}).to_json()
    dlq.send(small, {"tayori-error": Attribute.string("ValueError: n must be even")})
    return body, small


def _wait_series(client: TestClient, queue: str, dlq_depth: int) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data = client.get("/api/series").json()
        q = data["queues"].get(queue)
        if q and q["dlq"] and q["dlq"][-1] == dlq_depth:
            return data
        time.sleep(0.1)
    pytest.fail(f"series never showed {queue} with DLQ depth {dlq_depth}")


def test_dashboard_on_aws(config) -> None:
    backend = config.sources.backend
    _seed(backend)
    client_ddb = backend.client("dynamodb")
    table = mail_table_name("tayori-idempotency")
    create_mail_table(client_ddb, table)
    store = DynamoDBMailStore(client_ddb, table, shards=2)
    store.start_broadcast("b1", "notice")
    store.set_total("b1", 3)
    store.record("b1", "ok@example.org", "sent", "id-1")
    store.record("b1", "bad@example.org", "failed", "550 mailbox unavailable")
    # what SQS publishes to CloudWatch once a minute (moto stores what it is given)
    backend.client("cloudwatch").put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": "jobs"}],
                "Timestamp": datetime.now(UTC) - timedelta(minutes=5),
                "Value": 4200.0,
            }
        ],
    )

    with TestClient(create_app(config)) as client:
        page = client.get("/")
        assert page.status_code == 200
        token = page.cookies[csrf.COOKIE]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        data = _wait_series(client, "jobs", 2)
        assert "jobs-dlq" not in data["queues"]  # a DLQ is drawn beside its queue
        history = data["history"]
        assert config.history.error is None
        assert 4200.0 in history["queues"]["jobs"]["visible"]  # the mountain before we started
        assert len(history["t"]) == len(history["queues"]["jobs"]["visible"])

        listing = client.get("/queues/jobs/dlq")
        assert listing.status_code == 200
        html = listing.text
        assert "bad &lt;b&gt;thing&lt;/b&gt;" in html and "<b>thing</b>" not in html
        assert "n must be even" in html and html.count('name="id"') == 2
        assert "Load claim-checked body" in html
        pointer_id = html.split("/dlq/messages/")[1].split("/body")[0]
        body = client.get(f"/queues/jobs/dlq/messages/{pointer_id}/body")
        assert body.status_code == 200 and "xxxxxxxx" in body.text
        assert client.get("/queues/jobs/dlq/messages/nope/body").status_code == 400

        # POST only, and only with the token
        assert client.get("/queues/jobs/dlq/redrive").status_code == 405
        assert client.post("/queues/jobs/dlq/redrive", data={"all": "1"}).status_code == 403
        evil = client.post(
            "/queues/jobs/dlq/purge",
            headers={csrf.HEADER: token, "Origin": "http://evil.example"},
        )
        assert evil.status_code == 403
        moved = client.post(
            "/queues/jobs/dlq/redrive", data={"id": pointer_id}, headers={csrf.HEADER: token}
        )
        assert moved.status_code == 200 and "moved 1 message(s)" in moved.text
        assert backend.get_queue("jobs").stats().visible == 1
        assert backend.get_queue("jobs-dlq").stats().total == 1

        # broadcasts from the DynamoDB mail store, failed recipients with reasons
        rows = client.get("/broadcasts").text
        assert 'data-broadcast="b1"' in rows and "Failed recipients" in rows
        failed = client.get("/broadcasts/b1/failed").text
        assert "bad@example.org" in failed and "550 mailbox unavailable" in failed
        assert "ok@example.org" not in failed

        every = client.post(
            "/queues/jobs/dlq/redrive", data={"all": "1"}, headers={csrf.HEADER: token}
        )
        assert every.status_code == 200 and "moved 1 message(s)" in every.text
        assert backend.get_queue("jobs").stats().visible == 2
        assert "No dead letters." in every.text

        backend.get_queue("jobs-dlq").send("not even JSON", {})
        purged = client.post("/queues/jobs/dlq/purge", data={"csrf": token})
        assert purged.status_code == 200 and "purged 1 message(s)" in purged.text
        assert backend.get_queue("jobs-dlq").stats().total == 0
        metrics = client.get("/api/metrics").json()
        assert metrics["mail"]["failed"] == 1 and metrics["mail"]["sent"] == 1
