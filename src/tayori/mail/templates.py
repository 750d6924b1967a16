"""Sandboxed Jinja2 templates with subject, text and HTML parts.

A template named ``welcome`` is up to three sources: ``welcome.subject``,
``welcome.txt`` and ``welcome.html`` (each optionally ending in ``.j2``), from a
directory or a dict. HTML parts are autoescaped, text and subject are not. Every
failure is a ``PermanentError`` that names the template and the recipient, since
re-running the same template on the same data fails the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from tayori.errors import TemplateError

PARTS = ("subject", "txt", "html")
_SUFFIXES = ("", ".j2")
# how long a name's resolved parts are reused: a broadcast renders one template per
# recipient, and looking the parts up again (a stat per part, and an exception per
# part that does not exist) cost ~20 us a send; an edited file is seen within this
RESOLVE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str | None
    html: str | None


class Templates:
    """Renders named templates. Give ``directory`` or ``sources`` (name -> source)."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        if directory is not None:
            loader: jinja2.BaseLoader = jinja2.FileSystemLoader(os.fspath(directory))
        else:
            loader = jinja2.DictLoader(dict(sources or {}))
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "keep_trailing_newline": True,
        }
        self._plain = SandboxedEnvironment(autoescape=False, **common)
        self._html = SandboxedEnvironment(autoescape=True, **common)
        # one dict assignment per refresh: two threads resolving at once both store the
        # same parts, so no lock is needed
        self._resolved: dict[str, tuple[float, dict[str, jinja2.Template | None]]] = {}

    def _parts(self, name: str) -> dict[str, jinja2.Template | None]:
        now = time.monotonic()
        cached = self._resolved.get(name)
        if cached is not None and now - cached[0] < RESOLVE_SECONDS:
            return cached[1]
        parts = {p: self._source(name, p) for p in PARTS}
        self._resolved[name] = (now, parts)
        return parts

    def _source(self, name: str, part: str) -> jinja2.Template | None:
        env = self._html if part == "html" else self._plain
        for suffix in _SUFFIXES:
            try:
                return env.get_template(f"{name}.{part}{suffix}")
            except jinja2.TemplateNotFound:
                continue
        return None

    def exists(self, name: str) -> bool:
        try:
            return any(self._source(name, p) is not None for p in PARTS)
        except jinja2.TemplateError:
            return True  # present but broken: render() reports it

    def render(
        self, name: str, context: Mapping[str, Any], *, recipient: str | None = None
    ) -> Rendered:
        """Render all parts for one recipient; raise ``TemplateError`` naming both."""
        who = f" for {recipient}" if recipient else ""
        try:
            parts = self._parts(name)
        except jinja2.TemplateError as exc:
            raise TemplateError(
                f"template {name!r}{who}: {type(exc).__name__}: {exc}",
                template=name,
                recipient=recipient,
            ) from None
        if parts["subject"] is None or (parts["txt"] is None and parts["html"] is None):
            raise TemplateError(
                f"template {name!r}{who} is missing: need {name}.subject and "
                f"{name}.txt or {name}.html",
                template=name,
                recipient=recipient,
            )
        out: dict[str, str | None] = {}
        for part, tmpl in parts.items():
            if tmpl is None:
                out[part] = None
                continue
            try:
                out[part] = tmpl.render(dict(context))
            except Exception as exc:  # sandbox violations, undefined names, filters...
                raise TemplateError(
                    f"template {name!r} part {part}{who}: {type(exc).__name__}: {exc}",
                    template=name,
                    recipient=recipient,
                ) from None
        subject = (out["subject"] or "").strip()
        return Rendered(subject=subject, text=out["txt"], html=out["html"])
