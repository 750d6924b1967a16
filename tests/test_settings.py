"""tayori.Settings reads values exactly as the pydantic-settings class it replaced did.

``Reference`` below is that class, verbatim (pydantic-settings stays installed as a
dependency): every case here is given to both and must give the same values, of the same
types, or the same one-line ``ConfigError``.
"""

from __future__ import annotations

import decimal
import enum
import json
import os
import pickle
from collections import deque
from dataclasses import FrozenInstanceError
from typing import Annotated, Any
from urllib.parse import urlparse

import pytest
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tayori.errors import ConfigError
from tayori.settings import ACCEPTS, LogLevel, Settings


class Reference(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAYORI_", extra="ignore", frozen=True)

    url: str = Field(default="sqlite:///./.tayori")
    endpoint_url: str | None = Field(default=None)
    bucket: str = Field(default="tayori")
    allowed_buckets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    idempotency_table: str = Field(default="tayori-idempotency")
    offload_threshold: int = Field(default=262_144, ge=0, le=1_048_576)
    max_batch_bytes: int = Field(default=262_144, ge=1024, le=1_048_576)
    idempotency_expiry_seconds: int = Field(default=21 * 24 * 3600, ge=60)
    visibility_timeout: int = Field(default=180, ge=0, le=43_200)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    retry_base_seconds: float = Field(default=1.0, gt=0, le=43_200)
    retry_max_seconds: int = Field(default=900, ge=1, le=43_200)
    outage_retry_base_seconds: float = Field(default=60.0, gt=0, le=43_200)
    outage_retry_max_seconds: int = Field(default=900, ge=1, le=43_200)
    metrics: bool = False
    dlq_suffix: str = "-dlq"
    log_level: LogLevel = "WARNING"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if urlparse(value).scheme not in ("sqlite", "aws"):
            raise ValueError("not a sqlite:/// or aws:// URL")
        return value

    @field_validator("allowed_buckets", mode="before")
    @classmethod
    def _split_buckets(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        accepts = ACCEPTS.get(name, "see the README's settings table")
        value = error.get("input")
        shown = value if isinstance(value, str | int | float) else json.dumps(value, default=str)
        parts.append(f"TAYORI_{name.upper()}={shown!r} is not valid: it accepts {accepts}")
    return "; ".join(parts)


class Scheme(enum.StrEnum):
    AWS = "aws://?region=eu-west-1"


WHOLE = ["180", " 12 ", "\t12\n", "1_000", "12.0", "12.00", "+12.0", "1_000.0", "0012", "-0"]
WHOLE += ["1__0", "_1", "12.", ".0", "12.5", "1e3", "0x10", "0b1", "+5", " -5 ", "1 2", ""]
WHOLE += ["\u0661\u0662", "9" * 30, "9" * 5000, "abc", "12L", "-1.0e-0"]
REAL = ["2", " 2 ", "1_0", "1e2", "1E1", "1.0e1", "12.", ".5", "1_0.5", "5.", "0012"]
REAL += ["1e1_0", "1__0", "inf", "-inf", "nan", "Infinity", "0.0", "-0", "1e400", "", "x"]
SWITCH = ["true", "TRUE", "True", "yes", "YES", "on", "1", "t", "y", "false", "no", "off"]
SWITCH += ["0", "f", "n", "FALSE", " true ", "2", "", "enabled", "1.0"]
LEVELS = ["info", " info ", "Info\n", "DEBUG", "critical", "verbose", "", "10"]
BUCKETS = ["a", "a, b,,c", " ", "", '["a"]', '["a", 1]', '["a", null]', "[bad", '{"a": 1}']
BUCKETS += ['["a", ["b"]]', "[]", "a;b"]
URLS = ["aws://?region=us-east-1", "AWS://x", "sqlite:///./x", "sqlite:////abs", "ftp://x"]
URLS += ["postgres://x", "", "x"]
ENV_CASES = (
    [{"VISIBILITY_TIMEOUT": v} for v in WHOLE]
    + [{"MAX_BATCH_BYTES": v} for v in ["1023", "1024", "1048576", "1048577"]]
    + [{"IDEMPOTENCY_EXPIRY_SECONDS": v} for v in ["59", "60", "9" * 20]]
    + [{"RETRY_BASE_SECONDS": v} for v in REAL]
    + [{"OUTAGE_RETRY_BASE_SECONDS": v} for v in ["43200", "43200.5", "0.001"]]
    + [{"METRICS": v} for v in SWITCH]
    + [{"LOG_LEVEL": v} for v in LEVELS]
    + [{"ALLOWED_BUCKETS": v} for v in BUCKETS]
    + [{"URL": v} for v in URLS]
    + [{"ENDPOINT_URL": v} for v in ["", "http://127.0.0.1:1", "null"]]
    + [{"BUCKET": ""}, {"DLQ_SUFFIX": ".dead"}, {"UNKNOWN": "x"}]
    + [{"VISIBILITY_TIMEOUT": "99999", "MAX_RECEIVE_COUNT": "0", "URL": "x"}]
)
KWARG_CASES = [
    {"visibility_timeout": v}
    for v in [True, False, 1.0, 1.5, -0.0, float("inf"), float("nan"), 2**70, b"5"]
] + [
    {"visibility_timeout": bytearray(b"5")},
    {"visibility_timeout": decimal.Decimal("5")},
    {"visibility_timeout": decimal.Decimal("5.5")},
    {"visibility_timeout": None},
    {"visibility_timeout": [5]},
    {"retry_base_seconds": True},
    {"retry_base_seconds": b"2"},
    {"retry_base_seconds": 10**400},
    {"retry_base_seconds": 1e-300},
    {"retry_base_seconds": decimal.Decimal("2.5")},
    {"retry_base_seconds": "2"},
    {"metrics": True},
    {"metrics": 0},
    {"metrics": 1.0},
    {"metrics": 2},
    {"metrics": b"true"},
    {"metrics": bytearray(b"1")},
    {"metrics": None},
    {"log_level": 10},
    {"log_level": b"INFO"},
    {"log_level": None},
    {"url": 5},
    {"url": b"aws://x"},
    {"url": b"ftp://x"},
    {"url": Scheme.AWS},
    {"url": None},
    {"bucket": None},
    {"bucket": 5},
    {"bucket": bytearray(b"b")},
    {"bucket": b"\xff"},
    {"endpoint_url": None},
    {"endpoint_url": b"x"},
    {"endpoint_url": 5},
    {"allowed_buckets": ("a", "b")},
    {"allowed_buckets": {"a"}},
    {"allowed_buckets": frozenset({"a"})},
    {"allowed_buckets": deque(["a"])},
    {"allowed_buckets": ["a", 2, 3]},
    {"allowed_buckets": [b"a", bytearray(b"b")]},
    {"allowed_buckets": {"a": 1}},
    {"allowed_buckets": 5},
    {"allowed_buckets": None},
    {"allowed_buckets": b"a,b"},
    {"visibility_timeout": 99999, "max_receive_count": 0, "foo": 1},
    {"URL": "aws://x"},
]


def _outcome(cls: type, kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        s = cls(**kwargs)
    except ConfigError as exc:
        return "error", str(exc)
    return "ok", [(name, getattr(s, name), type(getattr(s, name))) for name in ACCEPTS]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.lower().startswith("tayori_"):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize("env", ENV_CASES, ids=repr)
def test_the_environment_reads_as_pydantic_settings_read_it(environ, env: dict) -> None:
    for name, value in env.items():
        environ.setenv(f"TAYORI_{name}", value)
    assert _outcome(Settings, {}) == _outcome(Reference, {})


@pytest.mark.parametrize("kwargs", KWARG_CASES, ids=repr)
def test_keywords_read_as_pydantic_settings_read_them(environ, kwargs: dict) -> None:
    assert _outcome(Settings, kwargs) == _outcome(Reference, kwargs)


def test_iterators_keywords_over_environment_and_names_in_any_case(environ) -> None:
    assert _outcome(Settings, {"allowed_buckets": iter(["a"])}) == _outcome(
        Reference, {"allowed_buckets": iter(["a"])}
    )
    assert _outcome(Settings, {"allowed_buckets": (b for b in "ab")}) == _outcome(
        Reference, {"allowed_buckets": (b for b in "ab")}
    )
    environ.setenv("tayori_Bucket", "lower")
    environ.setenv("TAYORI_VISIBILITY_TIMEOUT", "abc")  # a keyword wins: never read
    for cls in (Settings, Reference):
        s = cls(visibility_timeout=30)
        assert (s.bucket, s.visibility_timeout) == ("lower", 30)
    environ.delenv("TAYORI_VISIBILITY_TIMEOUT")
    assert Settings().model_dump() == Reference().model_dump()
    for kwargs in ({"Url": "aws://y", "url": "aws://z"}, {"url": "aws://z", "URL": "aws://y"}):
        assert _outcome(Settings, kwargs) == _outcome(Reference, kwargs)


def test_settings_are_values_read_only_and_pickle(environ) -> None:
    s = Settings(url="aws://?region=eu-west-1", allowed_buckets="a,b")
    assert s == Settings(url="aws://?region=eu-west-1", allowed_buckets=["a", "b"])
    assert pickle.loads(pickle.dumps(s)) == s
    assert repr(s).startswith("Settings(url='aws://?region=eu-west-1', endpoint_url=None,")
    with pytest.raises(FrozenInstanceError):
        s.url = "sqlite:///x"  # type: ignore[misc]
    assert (s.scheme, s.region, s.readable_buckets) == ("aws", "eu-west-1", {"a", "b", "tayori"})
    assert Settings(url="sqlite:////abs/dir").sqlite_path == "/abs/dir"
    with pytest.raises(ConfigError, match="not an embedded URL"):
        _ = s.sqlite_path
    assert Settings().allowed_buckets is not Settings().allowed_buckets  # fresh default
    assert set(Settings.model_fields) == set(Reference.model_fields) == set(ACCEPTS)


def test_a_subclass_may_read_keywords_only(environ) -> None:
    class KeywordsOnly(Settings):
        from_environment = False

    environ.setenv("TAYORI_BUCKET", "from-the-environment")
    assert Settings().bucket == "from-the-environment"
    assert KeywordsOnly().bucket == "tayori" and KeywordsOnly(bucket="b").bucket == "b"
