"""CSRF protection by double submit: a random token in a cookie, echoed by every POST.

The page embeds the cookie's token (htmx sends it as the ``X-CSRF-Token`` header on
every request; plain forms carry it as the ``csrf`` field). A cross-site page can make
the browser send the cookie but cannot read it, so it cannot echo it. The cookie is
``SameSite=Strict`` and ``HttpOnly`` (the page gets the token from the server, not from
``document.cookie``), and a POST whose ``Origin`` names another site is refused too.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlparse

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "tayori_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf"


def token(request: Request) -> str:
    """The session's token: the cookie's, or a new one (``set_cookie`` stores it)."""
    current = request.cookies.get(COOKIE, "")
    if len(current) == 43 and current.replace("-", "").replace("_", "").isalnum():
        return current
    request.state.new_csrf = secrets.token_urlsafe(32)
    return str(request.state.new_csrf)


def set_cookie(request: Request, response: Response) -> Response:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(COOKIE, new, httponly=True, samesite="strict", path="/")
    return response


async def require(request: Request) -> None:
    """Raise 403 unless the POST echoes the cookie's token and comes from this site."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlparse(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-origin request refused")
    expected = request.cookies.get(COOKIE, "")
    sent = request.headers.get(HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get(FIELD, "")
        sent = value if isinstance(value, str) else ""
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page")
