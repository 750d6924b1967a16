"""Discovered by ``tayori.contrib.django``'s AppConfig.ready()."""

from __future__ import annotations

from typing import Any

from tayori.contrib.django import get_app

app = get_app()
seen: list[Any] = []


@app.task(queue="default")
def remember(payload: Any) -> None:
    seen.append(payload)
