"""App checks the AWS resources before its first send (issue 10, section 2)."""

from __future__ import annotations

import pytest

import tayori
from tayori.backends.aws import AwsBackend
from tayori.errors import ResourcesMissing


def test_the_first_send_names_what_is_missing_and_the_fix(moto_url: str) -> None:
    backend = AwsBackend("us-east-1", endpoint_url=moto_url, bucket="tayori-missing")
    app = tayori.App(
        "shop",
        backend=backend,
        settings=tayori.Settings(
            url="aws://?region=us-east-1", endpoint_url=moto_url, bucket="tayori-missing"
        ),
    )

    @app.task(queue="orders")
    def order(p: dict) -> None: ...

    with pytest.raises(ResourcesMissing) as caught:
        order.send({"n": 1})
    message = str(caught.value)
    assert "tayori-missing" in message and "tayori-idempotency" in message
    assert "tayori setup" in message and "\n" not in message
    backend.create_resources()
    # a failed check is not cached: the next send checks again
    assert order.send({"n": 1})
