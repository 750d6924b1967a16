"""Backends: the embedded default (SQLite + files) and AWS (SQS + S3 + DynamoDB)."""

from __future__ import annotations

from tayori.backends.base import Backend
from tayori.settings import Settings


def open_backend(settings: Settings) -> Backend:
    """The backend ``TAYORI_URL`` names. AWS imports stay out of the embedded path."""
    if settings.scheme == "aws":
        from tayori.backends.aws import AwsBackend

        return AwsBackend.from_settings(settings)
    from tayori.backends.sqlite import SqliteBackend

    return SqliteBackend(settings.sqlite_path, bucket=settings.bucket)
