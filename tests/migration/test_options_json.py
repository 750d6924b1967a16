"""Pure parts: Celery's retry backoff, option checks, and kombu-compatible argument JSON."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from kombu.utils.json import dumps as kombu_dumps
from kombu.utils.json import loads as kombu_loads

from tayori.errors import ConfigError
from tayori.options import TaskOptions, check_call_options
from tayori.wire import jsonvalue

VALUES = [
    datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    date(2026, 1, 2),
    time(3, 4, 5),
    Decimal("12.3400"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"bytes",
    {"nested": [datetime(2026, 1, 1, tzinfo=UTC), 1, "x"]},
]


def test_argument_json_reads_and_writes_kombus_encoding() -> None:
    ours = jsonvalue.dumps(VALUES)
    assert kombu_loads(ours) == VALUES  # a Celery worker reads what tayori wrote
    assert jsonvalue.loads(kombu_dumps(VALUES)) == VALUES  # and tayori reads Celery's


def test_celerys_backoff_formula() -> None:
    opts = TaskOptions(retry_backoff=True, retry_backoff_max=600, retry_jitter=False)
    assert [opts.backoff(r) for r in range(12)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600
    ]  # fmt: skip
    assert TaskOptions(retry_backoff=5, retry_jitter=False).backoff(2) == 20
    jittered = TaskOptions(retry_backoff=True)
    rng = random.Random(1)
    assert all(0 <= jittered.backoff(3, rng) <= 8 for _ in range(50))


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"priority": 1}, "priority"),
        ({"soft_time_limit": 5}, "soft_time_limit"),
        ({"serializer": "pickle"}, "JSON only"),
        ({"ignore_result": False}, "result backend"),
        ({"autoretry_for": ("x",)}, "exception classes"),
        ({"max_retries": -1}, "max_retries"),
        ({"time_limit": 0}, "time_limit"),
        ({"retry_kwargs": {"eta": 1}}, "retry_kwargs eta"),
    ],
)
def test_task_options_refused_by_name(options: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        TaskOptions.from_celery("t", options)


def test_task_options_celery_accepts_and_tayori_honours() -> None:
    opts = TaskOptions.from_celery(
        "t",
        {"bind": True, "acks_late": True, "serializer": "json", "ignore_result": True,
         "autoretry_for": [TimeoutError], "max_retries": None, "throws": (KeyError,)},
    )  # fmt: skip
    assert opts.autoretry_for == (TimeoutError,) and opts.max_retries is None
    check_call_options("t", {"serializer": "json", "retry": True})
    with pytest.raises(ConfigError, match="retry=False"):
        check_call_options("t", {"retry": False})
