"""Settings, read once from the environment (prefix ``TAYORI_``) and passed down.

No other module reads ``os.environ``. A value that cannot work raises ``ConfigError``
with one line naming the variable and what it accepts (the CLI prints it, exit 2).

A small reader of tayori's own, not pydantic-settings: a deployed Lambda function builds
``Settings`` on every cold start, and importing pydantic + pydantic-settings cost more
than the rest of tayori (issue 14). It reads values as pydantic's lax mode does:
``"180"``/``" 180 "``/``"1_80"``/``"180.0"`` for a whole number, ``true/yes/on/1`` and
``false/no/off/0`` for a switch, bytes as UTF-8 text; ``tests/test_settings.py`` checks
it against the pydantic-settings class it replaced.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from collections.abc import Callable, Iterator, KeysView, ValuesView
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlparse

from tayori.errors import ConfigError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PREFIX = "tayori_"

# what each setting accepts, for the one-line error (and the README's settings table)
ACCEPTS = {
    "url": "sqlite:///DIR (embedded) or aws://?region=REGION",
    "endpoint_url": "an http(s) URL of an SQS/S3/DynamoDB-compatible endpoint",
    "bucket": "an S3 bucket name",
    "allowed_buckets": "bucket names separated by commas, e.g. a,b",
    "idempotency_table": "a DynamoDB table name",
    "offload_threshold": "bytes, 0-1048576",
    "max_batch_bytes": "bytes, 1024-1048576",
    "idempotency_expiry_seconds": "whole seconds, at least 60",
    "visibility_timeout": "whole seconds, 0-43200",
    "max_receive_count": "a whole number, 1-1000",
    "retry_base_seconds": "seconds over 0, at most 43200",
    "retry_max_seconds": "whole seconds, 1-43200",
    "outage_retry_base_seconds": "seconds over 0, at most 43200",
    "outage_retry_max_seconds": "whole seconds, 1-43200",
    "dlq_suffix": "text appended to a queue's name to name its DLQ",
    "metrics": "true or false: CloudWatch metrics (EMF on stdout) from the handler",
    "log_level": "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
}


class _Invalid(Exception):
    """A value a setting refuses; ``inputs`` are what the one-line error shows."""

    def __init__(self, *inputs: Any) -> None:
        super().__init__()
        self.inputs = inputs


# ------------------------------------------------------------------ value readers

# patterns, compiled (and cached by re) when a number first arrives as text
_WHOLE = r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?"
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_REAL = rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_SEQUENCES = (list, tuple, set, frozenset, deque, Iterator, KeysView, ValuesView)


def _text(value: Any, *, bytearrays: bool = False) -> str:
    """``value`` as plain text: str (or a subclass), or UTF-8 bytes."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes) or (bytearrays and isinstance(value, bytearray)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            raise _Invalid(value) from None
    raise _Invalid(value)


def _decimal(value: Any) -> Any:
    """A ``decimal.Decimal`` (imported only when a caller passes something unusual)."""
    import decimal

    if isinstance(value, decimal.Decimal) and value.is_finite():
        return value
    raise _Invalid(value)


def _whole(value: Any) -> int:
    if isinstance(value, int):  # bool too, as pydantic's lax mode
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _Invalid(value)
    if isinstance(value, str | bytes):
        text = _text(value).strip()
        if re.fullmatch(_WHOLE, text):
            try:
                return int(text.partition(".")[0])
            except ValueError:  # more digits than int() reads
                raise _Invalid(value) from None
        raise _Invalid(value)
    number = _decimal(value)
    if number != number.to_integral_value():
        raise _Invalid(value)
    return int(number)


def _real(value: Any) -> float:
    try:
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str | bytes):
            text = _text(value).strip()
            if re.fullmatch(_REAL, text):
                return float(text)
            raise _Invalid(value)
        return float(_decimal(value))
    except OverflowError:
        raise _Invalid(value) from None


def whole(lo: int, hi: int | None = None) -> Callable[[Any], int]:
    """A whole number in ``lo..hi`` (``hi`` None: no upper bound)."""

    def read(value: Any) -> int:
        number = _whole(value)
        if number < lo or (hi is not None and number > hi):
            raise _Invalid(value)
        return number

    return read


def real(over: float, hi: float) -> Callable[[Any], float]:
    """A number over ``over``, at most ``hi`` (NaN and infinities are refused)."""

    def read(value: Any) -> float:
        number = _real(value)
        if not over < number <= hi:
            raise _Invalid(value)
        return number

    return read


def text(value: Any) -> str:
    return _text(value, bytearrays=True)


def optional_text(value: Any) -> str | None:
    return None if value is None else text(value)


def switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str | bytes):
        word = _text(value).lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise _Invalid(value)


def store_url(value: Any) -> str:
    url = text(value)
    if urlparse(url).scheme not in ("sqlite", "aws"):
        raise _Invalid(value)
    return url


def buckets(value: Any) -> list[str]:
    """``a,b`` or a JSON list (from the environment), or any sequence of names."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except ValueError:
                raise _Invalid(value) from None
        else:
            return [part.strip() for part in stripped.split(",") if part.strip()]
    if not isinstance(value, _SEQUENCES):
        raise _Invalid(value)
    names, bad = [], []
    for item in value:
        try:
            names.append(text(item))
        except _Invalid as exc:
            bad.extend(exc.inputs)
    if bad:
        raise _Invalid(*bad)
    return names


def log_level(value: Any) -> str:
    if isinstance(value, str):
        value = value.strip().upper()
        if value in LOG_LEVELS:
            return str.__str__(value)
    raise _Invalid(value)


def _reads(read: Callable[[Any], Any], description: str = "") -> dict[str, Any]:
    """A field's metadata: its reader (and a line for docs)."""
    return {"read": read, "description": description}


# ------------------------------------------------------------------ the settings


@dataclass(frozen=True, init=False)
class Settings:
    """tayori's settings: keyword arguments, else ``TAYORI_<NAME>``, else the default.

    Names match in any case; unknown keywords are ignored; an instance is read-only."""

    # a subclass that sets this False reads its keywords only (the Django integration)
    from_environment: ClassVar[bool] = True
    model_fields: ClassVar[dict[str, Any]]

    url: str = field(
        default="sqlite:///./.tayori",
        metadata=_reads(store_url, "sqlite:///path/to/dir (embedded) or aws://?region=us-east-1"),
    )
    endpoint_url: str | None = field(
        default=None,
        metadata=_reads(optional_text, "SQS/S3/DynamoDB-compatible endpoint (moto in tests)"),
    )
    bucket: str = field(
        default="tayori", metadata=_reads(text, "claim-check bucket for large bodies")
    )
    allowed_buckets: list[str] = field(
        default_factory=list,
        metadata=_reads(
            buckets, "buckets a consumer may read pointers from (always includes `bucket`)"
        ),
    )
    idempotency_table: str = field(default="tayori-idempotency", metadata=_reads(text))
    offload_threshold: int = field(default=262_144, metadata=_reads(whole(0, 1_048_576)))
    max_batch_bytes: int = field(default=262_144, metadata=_reads(whole(1024, 1_048_576)))
    # idempotency records outlive queue retention + DLQ retention (4 + 14 days by default)
    idempotency_expiry_seconds: int = field(default=21 * 24 * 3600, metadata=_reads(whole(60)))
    # 6 x the runtime's default 30 s function timeout: tayori's own rule, so no warning
    visibility_timeout: int = field(default=180, metadata=_reads(whole(0, 43_200)))
    max_receive_count: int = field(default=5, metadata=_reads(whole(1, 1000)))
    # backoff of a failed task (seconds, doubling, capped) ...
    retry_base_seconds: float = field(default=1.0, metadata=_reads(real(0, 43_200)))
    retry_max_seconds: int = field(default=900, metadata=_reads(whole(1, 43_200)))
    # ... and of an infrastructure failure: 60+120+240+480 s ride out 15 min of outage
    # before the 5th receive
    outage_retry_base_seconds: float = field(default=60.0, metadata=_reads(real(0, 43_200)))
    outage_retry_max_seconds: int = field(default=900, metadata=_reads(whole(1, 43_200)))
    # CloudWatch metrics (EMF lines on stdout) from the handler; the deployed function
    # turns them on (tayori template), locally stdout is the CLI's
    metrics: bool = field(default=False, metadata=_reads(switch))
    dlq_suffix: str = field(default="-dlq", metadata=_reads(text))
    log_level: LogLevel = field(default="WARNING", metadata=_reads(log_level))

    def __init__(self, **values: Any) -> None:
        source = _environment() if self.from_environment else {}
        given: dict[str, Any] = {}
        for key, value in values.items():  # names in any case; the first one wins
            given.setdefault(key.lower(), value)
        errors: list[tuple[str, Any]] = []
        for name, spec in self.model_fields.items():
            if name in given:
                raw = given[name]
            elif name in source:
                raw = source[name]
            else:
                default = spec.default_factory() if spec.default is MISSING else spec.default
                object.__setattr__(self, name, default)
                continue
            try:
                object.__setattr__(self, name, spec.metadata["read"](raw))
            except _Invalid as exc:
                errors.extend((name, shown) for shown in exc.inputs)
        if errors:
            raise ConfigError(_one_line(errors))

    def model_dump(self) -> dict[str, Any]:
        """Every setting by name (a copy)."""
        return {name: _copy(getattr(self, name)) for name in self.model_fields}

    @property
    def scheme(self) -> str:
        return urlparse(self.url).scheme

    @property
    def sqlite_path(self) -> str:
        """The embedded backend's directory (``sqlite:///./.tayori`` -> ``./.tayori``)."""
        parsed = urlparse(self.url)
        if parsed.scheme != "sqlite":
            raise ConfigError(f"not an embedded URL: {self.url}")
        # SQLAlchemy's convention: sqlite:///relative/dir, sqlite:////absolute/dir
        path = parsed.netloc + parsed.path
        if path.startswith("/"):
            path = path[1:]
        return path or "./.tayori"

    @property
    def region(self) -> str:
        query = parse_qs(urlparse(self.url).query)
        return query.get("region", ["us-east-1"])[0]

    @property
    def readable_buckets(self) -> frozenset[str]:
        return frozenset([self.bucket, *self.allowed_buckets])


Settings.model_fields = {spec.name: spec for spec in fields(Settings)}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _environment() -> dict[str, str]:
    """``TAYORI_*`` variables by setting name; names match in any case."""
    return {
        key[len(PREFIX) :].lower(): value
        for key, value in os.environ.items()
        if key[: len(PREFIX)].lower() == PREFIX
    }


def _one_line(errors: list[tuple[str, Any]]) -> str:
    parts = []
    for name, value in errors:
        accepts = ACCEPTS.get(name, "see the README's settings table")
        shown = value if isinstance(value, str | int | float) else json.dumps(value, default=str)
        parts.append(f"TAYORI_{name.upper()}={shown!r} is not valid: it accepts {accepts}")
    return "; ".join(parts)
