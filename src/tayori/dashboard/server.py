"""The dashboard's web app: server-rendered pages and fragments (Jinja2 + htmx), one JSON
feed for the chart (uPlot), and POST-only, CSRF-checked actions. Nothing on GET changes
a queue or a broadcast (looking at a DLQ counts as a receive, as on SQS)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from tayori.dashboard import csrf
from tayori.dashboard.deadletters import DeadLetters, redrive
from tayori.dashboard.metrics import counters
from tayori.dashboard.sampler import Sampler
from tayori.dashboard.sources import Sources
from tayori.errors import TayoriError
from tayori.mail.recovery import describe, failed_recipients, retry_failed

HERE = Path(__file__).parent
LIST_LIMIT = 100
# scripts only from this server (no inline script, no eval); no framing (a framed page
# could trick a click on Purge); inline styles only for the progress bars' widths
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Config:
    """What one dashboard serves. ``mail_queue`` / ``send_task`` name the Mailer's queue
    and send task, for "retry failed"."""

    sources: Sources
    sampler: Sampler
    mail_queue: str = "mail"
    send_task: str = "mail.send"
    history: Any = None  # cloudwatch.History on AWS, else None


class Pages:
    """The route handlers. Blocking backend work runs in the thread pool (``_guard``)."""

    def __init__(self, config: Config) -> None:
        self.config, self.sources = config, config.sources
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.letters = DeadLetters(self.sources.backend, self.sources.settings.readable_buckets)

    def page(self, request: Request, name: str, context: dict[str, Any]) -> Response:
        context = {"csrf": csrf.token(request), **context}
        return csrf.set_cookie(request, self.templates.TemplateResponse(request, name, context))

    # ------------------------------------------------------------------ reading

    async def index(self, request: Request) -> Response:
        rows = await _guard(self.sources.rows)
        backend = self.sources.backend
        return self.page(
            request,
            "index.html",
            {
                "rows": rows,
                "backend": repr(backend),
                "interval": self.config.sampler.interval,
                "workers": hasattr(backend, "directory"),
            },
        )

    async def series(self, request: Request) -> Response:
        since = _float(request.query_params.get("since"))
        data = self.config.sampler.series(since)
        if self.config.history is not None and since is None:
            data["history"] = await run_in_threadpool(self.config.history.get)
        return JSONResponse(data)

    async def metrics(self, request: Request) -> Response:
        directory = getattr(self.sources.backend, "directory", None)
        return JSONResponse(await run_in_threadpool(counters, self.config.sampler, directory))

    async def dlq(self, request: Request, note: str = "") -> Response:
        name = request.path_params["queue"]

        def look() -> dict[str, Any]:
            source, dead = self.sources.pair(name)
            return {
                "listed_at": datetime.now(UTC).strftime("%H:%M:%S"),
                "queue": source.name,
                "dlq": dead.name,
                "letters": self.letters.peek(dead, LIST_LIMIT),
                "depth": dead.stats().total,
            }

        return self.page(request, "_dlq.html", {**await _guard(look), "note": note})

    async def body(self, request: Request) -> Response:
        text, cut = await _guard(self.letters.body, request.path_params["message_id"])
        return self.page(request, "_body.html", {"text": text, "cut": cut})

    async def broadcasts(self, request: Request) -> Response:
        found = await _guard(self.sources.broadcasts)
        return self.page(request, "_broadcasts.html", {"broadcasts": found})

    async def failed(self, request: Request, note: str = "") -> Response:
        bid = request.path_params["bid"]
        store = self.sources.mail_store()
        rows = [] if store is None else await _guard(failed_recipients, store, bid, LIST_LIMIT)
        return self.page(request, "_failed.html", {"bid": bid, "rows": rows, "note": note})

    # ------------------------------------------------------------------ actions (POST)

    async def redrive(self, request: Request) -> Response:
        await csrf.require(request)
        form = await request.form()
        every = form.get("all") == "1"
        ids = {str(v) for v in form.getlist("id")}
        if not every and not ids:
            return await self.dlq(request, "nothing selected: tick messages or use Redrive all")

        def act() -> int:
            source, dead = self.sources.pair(request.path_params["queue"])
            return redrive(dead, source, None if every else ids)

        moved = await _guard(act)
        return await self.dlq(request, f"moved {moved} message(s) back to the queue")

    async def purge(self, request: Request) -> Response:
        await csrf.require(request)

        def act() -> int:
            _, dead = self.sources.pair(request.path_params["queue"])
            depth = dead.stats().total
            dead.purge()
            return depth

        purged = await _guard(act)
        return await self.dlq(request, f"purged {purged} message(s)")

    async def retry(self, request: Request) -> Response:
        await csrf.require(request)
        store = self.sources.mail_store()
        if store is None:
            raise HTTPException(404, "no mail store yet: no broadcast was started")
        result = await _guard(
            retry_failed,
            store,
            self.sources.backend,
            request.path_params["bid"],
            queue=self.config.mail_queue,
            task=self.config.send_task,
            readable_buckets=self.sources.settings.readable_buckets,
        )
        return await self.failed(request, describe(result))


def create_app(config: Config, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The Starlette app; its lifespan starts and stops ``config.sampler``."""
    pages = Pages(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config.sampler.start()
        try:
            yield
        finally:
            config.sampler.stop()
            config.sources.close()

    routes = [
        Route("/", pages.index),
        Route("/api/series", pages.series),
        Route("/api/metrics", pages.metrics),
        Route("/queues/{queue}/dlq", pages.dlq),
        Route("/queues/{queue}/dlq/messages/{message_id}/body", pages.body),
        Route("/queues/{queue}/dlq/redrive", pages.redrive, methods=["POST"]),
        Route("/queues/{queue}/dlq/purge", pages.purge, methods=["POST"]),
        Route("/broadcasts", pages.broadcasts),
        Route("/broadcasts/{bid}/failed", pages.failed),
        Route("/broadcasts/{bid}/retry", pages.retry, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"]),
        Middleware(_SecurityHeaders),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )


class _SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response (pure ASGI: no body buffering)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking backend work off the event loop; a TayoriError is a 400 line."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except TayoriError as exc:
        raise HTTPException(400, f"{type(exc).__name__}: {exc}") from None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(f"{exc.status_code}: {exc.detail}", status_code=exc.status_code)


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
