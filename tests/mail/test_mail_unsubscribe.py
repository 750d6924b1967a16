"""RFC 8058 one-click unsubscribe: forged, tampered or expired tokens are rejected."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlparse

import pytest

from tayori.errors import ConfigError
from tayori.mail import InvalidToken, UnsubscribeApp, Unsubscriber

SECRET = "s3cret-for-tests-only-0123456789"
URL = "https://example.com/unsubscribe"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_round_trip_and_headers() -> None:
    u = Unsubscriber(SECRET, URL)
    token = u.token("Ann@Example.org", "b1")
    info = u.verify(token)
    assert (info.address, info.scope) == ("ann@example.org", "b1")
    headers = u.headers("ann@example.org", "b1")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = headers["List-Unsubscribe"]
    assert link.startswith(f"<{URL}?token=") and link.endswith(">")
    assert u.verify(parse_qs(urlparse(link[1:-1]).query)["token"][0]).address == "ann@example.org"


def test_forged_with_another_secret() -> None:
    token = Unsubscriber("another-secret-0123456789", URL).token("a@example.org")
    with pytest.raises(InvalidToken):
        Unsubscriber(SECRET, URL).verify(token)


def test_tampered_payload() -> None:
    u = Unsubscriber(SECRET, URL)
    body, sig = u.token("a@example.org").split(".")
    other_body = u.token("victim@example.org").split(".")[0]
    for bad in (f"{other_body}.{sig}", f"{body}.{sig[:-2]}xx", f"{body}x.{sig}", body, "", "a.b.c"):
        with pytest.raises(InvalidToken):
            u.verify(bad)


def test_expired() -> None:
    clock = Clock()
    u = Unsubscriber(SECRET, URL, ttl=60, clock=clock)
    token = u.token("a@example.org")
    clock.now += 59
    assert u.verify(token).address == "a@example.org"
    clock.now += 2
    with pytest.raises(InvalidToken, match="expired"):
        u.verify(token)


def test_weak_secret_and_plain_http_refused() -> None:
    with pytest.raises(ConfigError):
        Unsubscriber("short", URL)
    with pytest.raises(ConfigError):
        Unsubscriber(SECRET, "http://example.com/u")


def _call(app: UnsubscribeApp, method: str, query: str, body: bytes = b"") -> tuple[str, bytes]:
    seen: list[str] = []
    env = {
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    out = b"".join(app(env, lambda status, headers: seen.append(status)))
    return seen[0], out


def test_wsgi_endpoint_post_suppresses_get_does_not() -> None:
    u = Unsubscriber(SECRET, URL)
    suppressed: list[tuple[str, str]] = []
    app = UnsubscribeApp(u, lambda a, r: suppressed.append((a, r)))
    token = u.token("a@example.org", "b1")
    status, page = _call(app, "GET", f"token={token}")
    assert status.startswith("200") and b"<form" in page and not suppressed
    status, _ = _call(app, "POST", f"token={token}", b"List-Unsubscribe=One-Click")
    assert status.startswith("200")
    assert suppressed == [("a@example.org", "unsubscribe:b1")]
    status, _ = _call(app, "POST", "token=forged.token", b"List-Unsubscribe=One-Click")
    assert status.startswith("400") and len(suppressed) == 1
    status, _ = _call(app, "POST", "", f"token={token}".encode())  # token in the form body
    assert status.startswith("200")
    assert _call(app, "DELETE", "")[0].startswith("405")
