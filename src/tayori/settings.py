"""Settings, read once from the environment (prefix ``TAYORI_``) and passed down.

No other module reads ``os.environ``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tayori.errors import ConfigError


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
    allowed_buckets: list[str] = Field(
        default_factory=list,
        description="buckets a consumer may read pointers from (always includes `bucket`)",
    )
    idempotency_table: str = Field(default="tayori-idempotency")
    offload_threshold: int = Field(default=262_144, ge=0, le=1_048_576)
    max_batch_bytes: int = Field(default=262_144, ge=1024, le=1_048_576)
    # idempotency records outlive queue retention + DLQ retention (4 + 14 days by default)
    idempotency_expiry_seconds: int = Field(default=21 * 24 * 3600, ge=60)
    visibility_timeout: int = Field(default=30, ge=0, le=43_200)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    # backoff of a failed task (seconds, doubling, capped) ...
    retry_base_seconds: float = Field(default=1.0, gt=0, le=43_200)
    retry_max_seconds: int = Field(default=900, ge=1, le=43_200)
    # ... and of an infrastructure failure: 60+120+240+480 s ride out 15 min of outage
    # before the 5th receive
    outage_retry_base_seconds: float = Field(default=60.0, gt=0, le=43_200)
    outage_retry_max_seconds: int = Field(default=900, ge=1, le=43_200)
    dlq_suffix: str = "-dlq"
    log_level: str = "WARNING"

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme not in ("sqlite", "aws"):
            raise ValueError(f"TAYORI_URL must start with sqlite:/// or aws://, got {value!r}")
        return value

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
