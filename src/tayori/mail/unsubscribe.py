"""RFC 8058 one-click unsubscribe: signed expiring tokens, headers, a tiny WSGI endpoint.

Token: ``base64url(json{a: address, s: scope, x: expiry}) "." base64url(HMAC-SHA256)``.
No database lookup is needed to verify it, and it cannot be forged or extended
without the secret. Per RFC 8058 only a POST unsubscribes: mail scanners follow GET
links, so GET shows a confirmation form and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from tayori.errors import ConfigError, InvalidToken
from tayori.mail.message import address_of

DEFAULT_TTL = 60 * 24 * 3600  # Gmail and Yahoo expect the link to work for a while


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    address: str
    scope: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Unsubscriber:
    """Makes and checks tokens; ``base_url`` is the public URL of the endpoint."""

    def __init__(
        self,
        secret: str | bytes,
        base_url: str,
        *,
        ttl: int = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ConfigError("the unsubscribe secret must be at least 16 bytes")
        if not base_url.startswith("https://") and not base_url.startswith("http://127.0.0.1"):
            raise ConfigError("the unsubscribe URL must be https:// (RFC 8058)")
        self._key, self.base_url, self.ttl, self._clock = key, base_url, ttl, clock

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def token(self, address: str, scope: str = "") -> str:
        data = {"a": address_of(address), "s": scope, "x": int(self._clock()) + self.ttl}
        body = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str) -> Unsubscribe:
        """Return what the token unsubscribes; raise ``InvalidToken`` otherwise."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2048:
            raise InvalidToken("malformed unsubscribe token")
        body, sig = token.split(".")
        if not hmac.compare_digest(self._sign(body), sig):
            raise InvalidToken("unsubscribe token signature does not match")
        try:
            data = json.loads(_unb64(body))
            result = Unsubscribe(str(data["a"]), str(data["s"]), int(data["x"]))
        except (ValueError, KeyError, TypeError):
            raise InvalidToken("malformed unsubscribe token") from None
        if result.expires < self._clock():
            raise InvalidToken("unsubscribe token has expired")
        return result

    def url(self, address: str, scope: str = "") -> str:
        sep = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{sep}{urlencode({'token': self.token(address, scope)})}"

    def headers(self, address: str, scope: str = "") -> dict[str, str]:
        """The two headers bulk mail needs (RFC 2369 + RFC 8058)."""
        return {
            "List-Unsubscribe": f"<{self.url(address, scope)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }


_FORM = (
    "<!doctype html><title>Unsubscribe</title><form method=post>"
    '<input type=hidden name=token value="{token}">'
    "<p>Stop emails to {address}?</p><button>Unsubscribe</button></form>"
)


class UnsubscribeApp:
    """WSGI endpoint: POST ``?token=...`` suppresses the address; GET asks to confirm."""

    def __init__(self, unsubscriber: Unsubscriber, suppress: Callable[[str, str], None]) -> None:
        self.unsubscriber, self.suppress = unsubscriber, suppress

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        params = parse_qs(environ.get("QUERY_STRING", ""))
        if method == "POST":
            try:
                length = min(int(environ.get("CONTENT_LENGTH") or 0), 65536)
            except ValueError:
                length = 0
            form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
            params = {**form, **params}
        elif method != "GET":
            return _reply(start_response, "405 Method Not Allowed", "use POST")
        token = (params.get("token") or [""])[0]
        try:
            info = self.unsubscriber.verify(token)
        except InvalidToken as exc:
            return _reply(start_response, "400 Bad Request", str(exc))
        if method == "GET":
            page = _FORM.format(token=html.escape(token), address=html.escape(info.address))
            return _reply(start_response, "200 OK", page, "text/html; charset=utf-8")
        self.suppress(info.address, f"unsubscribe:{info.scope}" if info.scope else "unsubscribe")
        return _reply(start_response, "200 OK", "unsubscribed")


def _reply(
    start_response: Callable[..., Any], status: str, body: str, ctype: str = "text/plain"
) -> list[bytes]:
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]
