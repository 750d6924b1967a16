"""SES v2 transport against a real moto server over HTTP, and a real HTTP 429 reply."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config

from tayori.errors import PermanentError, RetryLater
from tayori.mail import Message, SESTransport, Unsubscriber


def client(url: str):
    return boto3.client(
        "sesv2",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def msg(sender: str = "news@example.com", to: str = "ann@example.org") -> Message:
    u = Unsubscriber("secret-for-tests-0123456789", "https://example.com/u")
    return Message(
        sender=sender,
        to=(to,),
        subject="SES hello",
        text="body",
        html="<p>body</p>",
        headers=u.headers(to, "b1"),
    )


def sent_mail(url: str) -> list[dict]:
    """Raw messages moto accepted (its ``/moto-api/data.json`` view)."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=10) as r:
        return list(json.load(r).get("ses", {}).get("RawMessage", []))


def test_send_raw_with_headers(moto_url: str) -> None:
    ses = client(moto_url)
    ses.create_email_identity(EmailIdentity="example.com")
    ses.create_configuration_set(ConfigurationSetName="bulk")
    transport = SESTransport(ses, configuration_set="bulk")
    message_id = transport.send(msg())
    assert message_id
    [sent] = sent_mail(moto_url)
    assert sent["id"] == message_id and "ann@example.org" in sent["destinations"]
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in sent["raw_data"]


def test_send_raw_keeps_bytes_and_envelope(moto_url: str) -> None:
    """The Django backend's path: bytes built elsewhere, Bcc only in the envelope."""
    ses = client(moto_url)
    ses.create_email_identity(EmailIdentity="example.com")
    data = b"From: news@example.com\r\nTo: ann@example.org\r\nSubject: raw\r\n\r\nbody\r\n"
    message_id = SESTransport(ses).send_raw(
        "news@example.com", ["ann@example.org", "hidden@example.org"], data
    )
    [sent] = sent_mail(moto_url)
    assert sent["id"] == message_id
    assert set(sent["destinations"]) == {"ann@example.org", "hidden@example.org"}
    assert sent["raw_data"].replace("\n", "\r\n").replace("\r\r", "\r") == data.decode()


def test_unverified_sender_is_permanent(moto_url: str) -> None:
    transport = SESTransport(client(moto_url))
    with pytest.raises(PermanentError, match="MessageRejected"):
        transport.send(msg(sender="nobody@unverified.example"))


def test_default_client_uses_endpoint(moto_url: str, monkeypatch) -> None:
    client(moto_url).create_email_identity(EmailIdentity="news@example.com")
    transport = SESTransport(endpoint_url=moto_url, region="us-east-1")
    assert transport.send(msg())


class _Fake(BaseHTTPRequestHandler):
    """Answers like SES v2 does when over the send rate or when a message is rejected."""

    replies: list[tuple[int, str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, code, text = self.replies.pop(0)
        body = json.dumps({"message": text}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_ses() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "status,code,expected",
    [
        (429, "TooManyRequestsException", RetryLater),
        (400, "Throttling", RetryLater),
        (400, "MessageRejected", PermanentError),
        (400, "AccountSuspendedException", PermanentError),
        (400, "SendingPausedException", RetryLater),
        (500, "InternalFailure", RetryLater),
    ],
)
def test_error_taxonomy_over_http(fake_ses: str, status: int, code: str, expected: type) -> None:
    _Fake.replies[:] = [(status, code, "simulated")]
    with pytest.raises(expected) as info:
        SESTransport(client(fake_ses)).send(msg())
    assert code in str(info.value)
    if expected is RetryLater and code != "InternalFailure":
        assert not isinstance(info.value, PermanentError)
