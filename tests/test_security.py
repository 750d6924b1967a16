"""Attack cases: path traversal, SQL built only with parameters, header injection,
template sandbox escapes, unsubscribe token forgery, and what reaches the logs."""

from __future__ import annotations

import ast
import base64
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

import tayori
from tayori.backends.base import check_queue_name
from tayori.backends.sqlite import SqliteBackend
from tayori.backends.sqlite.blobs import FileBlobStore
from tayori.errors import ConfigError, InvalidBlobKey, QueueNameInvalid
from tayori.mail import (
    HeaderInjection,
    InvalidMessage,
    Mailer,
    Message,
    SMTPConfig,
    SMTPTransport,
    TemplateError,
    Templates,
    UnsubscribeApp,
    Unsubscriber,
)
from tayori.mail.unsubscribe import InvalidToken
from tayori.runtime.local import RuntimeConfig
from tayori.settings import Settings
from tayori.testing import MemoryTransport

SRC = Path(tayori.__file__).parent

# ---------------------------------------------------------------------- path traversal

TRAVERSAL_KEYS = [
    "../outside",
    "a/../../outside",
    "/etc/passwd",
    "a//b",
    "./a",
    "a/./b",
    "a\\..\\b",
    "a\x00b",
    "",
    "..",
    "x" * 2000,
]


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
def test_blob_keys_cannot_leave_the_bucket(tmp_path: Path, key: str) -> None:
    store = FileBlobStore(tmp_path / "blobs", "tayori")
    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.delete(key)):
        with pytest.raises(InvalidBlobKey):
            call()
    assert not (tmp_path / "outside").exists()


def test_a_symlink_inside_the_bucket_cannot_lead_out(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    store = FileBlobStore(tmp_path / "blobs", "tayori")
    store.put("ok", b"fine")
    os.symlink(tmp_path, tmp_path / "blobs" / "tayori" / "link")
    with pytest.raises(InvalidBlobKey):
        store.get("link/secret.txt")
    with pytest.raises(InvalidBlobKey):
        store.put("link/new.txt", b"x")
    assert not (tmp_path / "new.txt").exists()


@pytest.mark.parametrize("bucket", ["../up", "..", "a/b", "UPPER", "x", "a..b", "-a-"])
def test_bucket_names_are_checked(tmp_path: Path, bucket: str) -> None:
    with pytest.raises(ConfigError):
        FileBlobStore(tmp_path, bucket)


BAD_QUEUE_NAMES = [
    "../queues",
    "a/b",
    "jobs.fifo",
    "",
    "q" * 81,
    "q;DROP TABLE messages",
    "q'--",
    "q\x00",
    "é",
    "a b",
]


@pytest.mark.parametrize("name", BAD_QUEUE_NAMES)
def test_queue_names_are_validated_like_sqs(tmp_path: Path, name: str) -> None:
    backend = SqliteBackend(tmp_path)
    with pytest.raises(QueueNameInvalid):
        check_queue_name(name)
    with pytest.raises(QueueNameInvalid):
        backend.create_queue(name)
    with pytest.raises(QueueNameInvalid):
        backend.get_queue(name)
    app = tayori.App("x", settings=Settings(url=f"sqlite:///{tmp_path}"))
    with pytest.raises(QueueNameInvalid):
        app.task(name="t", queue=name)(lambda p: p)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["queues.db"]


# ---------------------------------------------------------------------- SQL


def _constant_name(node: ast.expr) -> bool:
    """``NAME`` or ``self._NAME``: an UPPER_CASE module or class constant."""
    if isinstance(node, ast.Name):
        return node.id.lstrip("_").isupper()
    return isinstance(node, ast.Attribute) and node.attr.lstrip("_").isupper()


def _sql_arg_is_safe(node: ast.expr) -> bool:
    """A literal, a name, a constant, or an f-string whose only holes are constants."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name) or _constant_name(node):
        return True
    if _placeholder_builder(node):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(v, ast.Constant)
            or (isinstance(v, ast.FormattedValue) and _constant_name(v.value))
            for v in node.values
        )
    return False  # "..." + x, "..." % x, "...".format(x), function calls


def _placeholder_builder(node: ast.expr) -> bool:
    """``_name_sql(len(x))`` / ``_name_sql(n)``: a statement built from a row count only
    (its placeholders), never from values; ``test_placeholder_builders_hold_no_values``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("_")
        and node.func.id.endswith("_sql")
        and len(node.args) == 1
        and not node.keywords
        and (
            isinstance(node.args[0], ast.Name)
            or (
                isinstance(node.args[0], ast.Call)
                and isinstance(node.args[0].func, ast.Name)
                and node.args[0].func.id == "len"
            )
        )
    )


def test_placeholder_builders_hold_no_values() -> None:
    import re

    from tayori.backends.sqlite import queue

    for build in (queue._insert_sql, queue._taken_sql):
        one, three = build(1), build(3)
        assert one != three  # the count shapes the statement ...
        assert "'" not in three and '"' not in three  # ... and no literal value is in it
        assert set(re.findall(r"\?\d*", three)) - {"?"} <= {f"?{i}" for i in range(1, 20)}


def test_sql_is_built_only_with_parameters() -> None:
    """Every execute/query call passes SQL text that contains no runtime values."""
    methods = {"execute", "executemany", "executescript", "query", "query_one"}
    offenders, calls = [], 0
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in methods
                and node.args
            ):
                calls += 1
                if not _sql_arg_is_safe(node.args[0]):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert calls > 30  # the scan really saw the SQL
    assert offenders == []


HOSTILE = "x'); DROP TABLE messages; --\"`"


def test_hostile_strings_are_data_not_sql(tmp_path: Path) -> None:
    app = tayori.App("sqli", settings=Settings(url=f"sqlite:///{tmp_path}"))
    seen: list[Any] = []

    @app.task(queue="jobs", idempotency_key="id")
    def job(payload: Any) -> None:
        seen.append(payload)

    job.send({"id": HOSTILE, "text": HOSTILE})
    job.send({"id": HOSTILE, "text": "again"})  # same key: deduplicated, not an error
    queue = app.queue("jobs")
    assert queue.stats().visible == 2
    app.runtime(RuntimeConfig(concurrency=1, initial_concurrency=1)).run_until_idle(30)
    assert seen == [{"id": HOSTILE, "text": HOSTILE}]
    assert app.backend.list_queues() == ["jobs", "jobs-dlq"]
    from tayori.backends.sqlite.mail import SqliteMailStore

    store = SqliteMailStore(tmp_path)
    store.suppress(HOSTILE, HOSTILE)
    store.record(HOSTILE, HOSTILE, "sent", HOSTILE)
    assert store.suppression_reason(HOSTILE) == HOSTILE
    assert store.outcome(HOSTILE, HOSTILE) == "sent"
    assert store.outcome("other", HOSTILE) is None


# ---------------------------------------------------------------------- header injection

INJECTIONS = ["x\r\nBcc: victim@example.com", "x\nBcc: v@example.com", "x\rY", "x\x00y"]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_header_injection_is_refused(evil: str) -> None:
    base: dict[str, Any] = {"sender": "a@example.com", "to": ("b@example.com",), "text": "t"}
    with pytest.raises(HeaderInjection):
        Message(**{**base, "subject": evil})
    with pytest.raises(InvalidMessage):
        Message(**{**base, "subject": "s", "to": (f"b@example.com{evil}",)})
    with pytest.raises(InvalidMessage):
        Message(**{**base, "subject": "s", "sender": f'"{evil}" <a@example.com>'})
    with pytest.raises(InvalidMessage):
        Message(**{**base, "subject": "s", "reply_to": f"r@example.com{evil}"})
    with pytest.raises(HeaderInjection):
        Message(**{**base, "subject": "s", "headers": {"X-Tag": evil}})


@pytest.mark.parametrize("name", ["X-A: b", "X A", "", "Bcc", "Content-Type", "X-\u00e9"])
def test_custom_header_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidMessage):
        Message("a@example.com", ("b@example.com",), "s", "t", headers={name: "v"})


def test_recipient_data_cannot_inject_headers_through_a_template(tmp_path: Path) -> None:
    app = tayori.App("hdr", settings=Settings(url=f"sqlite:///{tmp_path}"))
    templates = Templates(sources={"t.subject": "Hi {{ name }}", "t.txt": "Body"})
    mailer = Mailer(app, transport=MemoryTransport(), templates=templates, sender="n@example.com")
    with pytest.raises(InvalidMessage):
        mailer.render("t", "b@example.com", {}, {"name": "x\r\nBcc: victim@example.com"})
    ok = mailer.render("t", "b@example.com", {}, {"name": "Ann"})
    assert b"Bcc" not in ok.as_bytes()


# ---------------------------------------------------------------------- template sandbox

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ name.__class__.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(name) }}",
    "{{ name|attr('__class__') }}",
    "{{ config }}{{ request }}{{ settings.SECRET_KEY }}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_blocked(source: str) -> None:
    templates = Templates(sources={"t.subject": "s", "t.txt": source})
    with pytest.raises(TemplateError):
        templates.render("t", {"name": "Ann"}, recipient="a@example.com")


def test_recipient_data_is_not_template_code() -> None:
    templates = Templates(
        sources={"t.subject": "s", "t.txt": "{{ name }}", "t.html": "<p>{{ name }}</p>"}
    )
    out = templates.render("t", {"name": "{{ 7*7 }}<script>alert(1)</script>"})
    assert out.text == "{{ 7*7 }}<script>alert(1)</script>"
    assert out.html is not None and "<script>" not in out.html and "&lt;script&gt;" in out.html


# ---------------------------------------------------------------------- unsubscribe tokens

SECRET = "unit-test-secret-0123456789abcdef"
URL = "https://example.com/u"


class Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_unsubscribe_tokens_cannot_be_forged_tampered_or_reused_after_expiry() -> None:
    clock = Clock()
    u = Unsubscriber(SECRET, URL, ttl=3600, clock=clock)
    token = u.token("ann@example.com", "b1")
    assert u.verify(token).address == "ann@example.com"
    body, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = [
        Unsubscriber("another-secret-0123456789abcd", URL).token("ann@example.com", "b1"),
        _b64(json.dumps({**data, "a": "bob@example.com"}).encode()) + "." + sig,
        _b64(json.dumps({**data, "x": data["x"] + 10**9}).encode()) + "." + sig,
        body + "." + sig[:-2] + ("AA" if not sig.endswith("AA") else "BB"),
        body + "." + _b64(b"\x00" * 32),
        body + ".",
        "." + sig,
        body,
        token + ".x",
        "x" * 5000,
        "",
    ]
    for bad in forged:
        with pytest.raises(InvalidToken):
            u.verify(bad)
    clock.now += 3601
    with pytest.raises(InvalidToken, match="expired"):
        u.verify(token)


def test_unsubscribe_endpoint_only_acts_on_a_valid_post() -> None:
    done: list[str] = []
    u = Unsubscriber(SECRET, URL)
    app = UnsubscribeApp(u, lambda address, reason: done.append(address))

    def call(method: str, token: str) -> str:
        status: list[str] = []
        body = f"token={token}".encode()
        environ = {
            "REQUEST_METHOD": method,
            "QUERY_STRING": "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        if method == "GET":
            environ["QUERY_STRING"] = f"token={token}"
        b"".join(app(environ, lambda s, h: status.append(s)))
        return status[0]

    good = u.token("ann@example.com")
    assert call("GET", good).startswith("200") and done == []  # scanners follow GET links
    assert call("POST", good.replace(".", ".x")).startswith("400") and done == []
    assert call("PUT", good).startswith("405") and done == []
    assert call("POST", good).startswith("200") and done == ["ann@example.com"]


def test_weak_unsubscribe_configuration_is_refused() -> None:
    with pytest.raises(ConfigError):
        Unsubscriber("short", URL)
    with pytest.raises(ConfigError):
        Unsubscriber(SECRET, "http://example.com/u")


# ---------------------------------------------------------------------- logs

BODY_MARKER = "BODY-MARKER-7f3a9c confidential medical appointment"
PASSWORD = "hunter2-PASSWORD-9d1e"


def test_no_credentials_or_email_bodies_in_info_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, smtp_server: Any
) -> None:
    """A broadcast with transient SMTP failures, a bad message and a dead letter, logged
    at INFO: the logs name messages and errors, never a body or a password."""
    caplog.set_level(logging.INFO)
    settings = Settings(url=f"sqlite:///{tmp_path}", visibility_timeout=30, max_receive_count=2)
    app = tayori.App("logs", settings=settings)
    templates = Templates(
        sources={"n.subject": "Hello {{ name }}", "n.txt": "{{ body }}", "n.html": "{{ body }}"}
    )
    smtp = SMTPTransport(
        SMTPConfig(host=smtp_server.host, port=smtp_server.port, username="u", password=PASSWORD)
    )
    memory = MemoryTransport()

    class Flaky:
        """First try over SMTP with credentials (refused: no AUTH), then deliver."""

        def send(self, message: Message) -> str:
            try:
                return smtp.send(message)
            except tayori.RetryLater:
                return memory.send(message)
            except tayori.PermanentError:
                return memory.send(message)

        def close(self) -> None:
            smtp.close()

    mailer = Mailer(app, transport=Flaky(), templates=templates, sender="n@example.com")
    recipients = [{"email": f"p{i}@example.com", "name": f"P{i}"} for i in range(20)]
    recipients.append({"email": "reject-me@example.com", "name": "x\nBcc: a@b.co"})
    mailer.broadcast("n", recipients, {"body": BODY_MARKER}, broadcast_id="logs")
    app.queue("mail").send("not an envelope " + BODY_MARKER)
    app.runtime(RuntimeConfig(concurrency=2, initial_concurrency=2)).run_until_idle(60)
    assert len(memory.outbox) == 20
    text = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.INFO
    )
    assert "dead-lettered" in text  # the logs were really captured
    assert PASSWORD not in text
    assert "confidential medical" not in text
