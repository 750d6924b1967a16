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

HERE = Path(__file__).parent
LIST_LIMIT = 100


@dataclass
class Config:
    """What one dashboard serves. ``mail_queue`` / ``send_task`` name the Mailer's queue
    and send task, for "retry failed"."""

    sources: Sources
    sampler: Sampler
    mail_queue: str = "mail"
    send_task: str = "mail.send"
    history: Any = None  # cloudwatch.History on AWS, else None


def create_app(config: Config, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The Starlette app; the caller starts ``config.sampler`` (``lifespan`` does)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    settings = config.sources.settings
    letters = DeadLetters(config.sources.backend, settings.readable_buckets)

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        context = {"csrf": csrf.token(request), **context}
        response = templates.TemplateResponse(request, name, context, status_code=status)
        return csrf.set_cookie(request, response)

    async def index(request: Request) -> Response:
        rows = await run_in_threadpool(config.sources.rows)
        return page(
            request,
            "index.html",
            {
                "rows": rows,
                "backend": repr(config.sources.backend),
                "interval": config.sampler.interval,
                "workers": hasattr(config.sources.backend, "directory"),
            },
        )

    async def series(request: Request) -> Response:
        since = _float(request.query_params.get("since"))
        data = config.sampler.series(since)
        if config.history is not None and since is None:
            data["history"] = await run_in_threadpool(config.history.get)
        return JSONResponse(data)

    async def metrics(request: Request) -> Response:
        return JSONResponse(
            await run_in_threadpool(
                counters, config.sampler, getattr(config.sources.backend, "directory", None)
            )
        )

    async def dlq_panel(request: Request, note: str = "", status: int = 200) -> Response:
        name = request.path_params["queue"]

        def look() -> dict[str, Any]:
            source, dead = config.sources.pair(name)
            found = letters.peek(dead, LIST_LIMIT)
            return {
                "listed_at": datetime.now(UTC).strftime("%H:%M:%S"),
                "queue": source.name,
                "dlq": dead.name,
                "letters": found,
                "depth": dead.stats().total,
            }

        data = await _guard(look)
        return page(request, "_dlq.html", {**data, "note": note}, status)

    async def dlq_body(request: Request) -> Response:
        text, cut = await _guard(letters.body, request.path_params["message_id"])
        return page(request, "_body.html", {"text": text, "cut": cut})

    async def dlq_redrive(request: Request) -> Response:
        await csrf.require(request)
        form = await request.form()
        every = form.get("all") == "1"
        ids = {str(v) for v in form.getlist("id")}
        if not every and not ids:
            return await dlq_panel(request, "nothing selected: tick messages or use Redrive all")

        def act() -> int:
            source, dead = config.sources.pair(request.path_params["queue"])
            return redrive(dead, source, None if every else ids)

        moved = await _guard(act)
        return await dlq_panel(request, f"moved {moved} message(s) back to the queue")

    async def dlq_purge(request: Request) -> Response:
        await csrf.require(request)

        def act() -> int:
            _, dead = config.sources.pair(request.path_params["queue"])
            depth = dead.stats().total
            dead.purge()
            return depth

        purged = await _guard(act)
        return await dlq_panel(request, f"purged {purged} message(s)")

    async def broadcasts(request: Request) -> Response:
        found = await _guard(config.sources.broadcasts)
        return page(request, "_broadcasts.html", {"broadcasts": found})

    async def failed(request: Request, note: str = "") -> Response:
        from tayori.mail.recovery import failed_recipients

        bid = request.path_params["bid"]
        store = config.sources.mail_store()
        rows = [] if store is None else await _guard(failed_recipients, store, bid, LIST_LIMIT)
        return page(request, "_failed.html", {"bid": bid, "rows": rows, "note": note})

    async def retry(request: Request) -> Response:
        await csrf.require(request)
        from tayori.mail.recovery import describe, retry_failed

        bid = request.path_params["bid"]
        store = config.sources.mail_store()
        if store is None:
            raise HTTPException(404, "no mail store yet")
        result = await _guard(
            retry_failed,
            store,
            config.sources.backend,
            bid,
            queue=config.mail_queue,
            task=config.send_task,
            readable_buckets=settings.readable_buckets,
        )
        return await failed(request, describe(result))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config.sampler.start()
        try:
            yield
        finally:
            config.sampler.stop()
            config.sources.close()

    routes = [
        Route("/", index),
        Route("/api/series", series),
        Route("/api/metrics", metrics),
        Route("/queues/{queue}/dlq", dlq_panel),
        Route("/queues/{queue}/dlq/messages/{message_id}/body", dlq_body),
        Route("/queues/{queue}/dlq/redrive", dlq_redrive, methods=["POST"]),
        Route("/queues/{queue}/dlq/purge", dlq_purge, methods=["POST"]),
        Route("/broadcasts", broadcasts),
        Route("/broadcasts/{bid}/failed", failed),
        Route("/broadcasts/{bid}/retry", retry, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"])]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )


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
