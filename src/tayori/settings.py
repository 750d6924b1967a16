"""Settings, read once from the environment (prefix ``TAYORI_``) and passed down.

No other module reads ``os.environ``. A value that cannot work raises ``ConfigError``
with one line naming the variable and what it accepts (the CLI prints it, exit 2).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from tayori.errors import ConfigError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAYORI_", extra="ignore", frozen=True)

    url: str = Field(
        default="sqlite:///./.tayori",
        description="sqlite:///path/to/dir (embedded) or aws://?region=us-east-1",
    )
    endpoint_url: str | None = Field(
        default=None, description="SQS/S3/DynamoDB-compatible endpoint (moto in tests)"
    )
    bucket: str = Field(default="tayori", description="claim-check bucket for large bodies")
    allowed_buckets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="buckets a consumer may read pointers from (always includes `bucket`)",
    )
    idempotency_table: str = Field(default="tayori-idempotency")
    offload_threshold: int = Field(default=262_144, ge=0, le=1_048_576)
    max_batch_bytes: int = Field(default=262_144, ge=1024, le=1_048_576)
    # idempotency records outlive queue retention + DLQ retention (4 + 14 days by default)
    idempotency_expiry_seconds: int = Field(default=21 * 24 * 3600, ge=60)
    # 6 x the runtime's default 30 s function timeout: tayori's own rule, so no warning
    visibility_timeout: int = Field(default=180, ge=0, le=43_200)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    # backoff of a failed task (seconds, doubling, capped) ...
    retry_base_seconds: float = Field(default=1.0, gt=0, le=43_200)
    retry_max_seconds: int = Field(default=900, ge=1, le=43_200)
    # ... and of an infrastructure failure: 60+120+240+480 s ride out 15 min of outage
    # before the 5th receive
    outage_retry_base_seconds: float = Field(default=60.0, gt=0, le=43_200)
    outage_retry_max_seconds: int = Field(default=900, ge=1, le=43_200)
    # CloudWatch metrics (EMF lines on stdout) from the handler; the deployed function
    # turns them on (tayori template), locally stdout is the CLI's
    metrics: bool = False
    dlq_suffix: str = "-dlq"
    log_level: LogLevel = "WARNING"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None
        except SettingsError as exc:
            raise ConfigError(f"bad TAYORI_* setting: {str(exc).splitlines()[0]}") from None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme not in ("sqlite", "aws"):
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


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        accepts = ACCEPTS.get(name, "see the README's settings table")
        value = error.get("input")
        shown = value if isinstance(value, str | int | float) else json.dumps(value, default=str)
        parts.append(f"TAYORI_{name.upper()}={shown!r} is not valid: it accepts {accepts}")
    return "; ".join(parts)
