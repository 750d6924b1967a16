"""The event source mapping's partial-batch rules (REFERENCE.md), as the runtime applies them."""

from __future__ import annotations

import pytest

from tayori.runtime.esm import check_visibility_timeout, succeeded_ids

IDS = ["a", "b", "c"]


@pytest.mark.parametrize(
    "response", [None, {}, "", {"batchItemFailures": []}, {"batchItemFailures": None}]
)
def test_empty_responses_mean_every_record_succeeded(response: object) -> None:
    assert succeeded_ids(IDS, response) == set(IDS)


def test_listed_ids_are_retried_and_the_rest_deleted() -> None:
    assert succeeded_ids(IDS, {"batchItemFailures": [{"itemIdentifier": "b"}]}) == {"a", "c"}


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": "zzz"}]},  # unknown id
        {"batchItemFailures": [{"itemIdentifier": ""}]},  # empty id
        {"batchItemFailures": [{"itemIdentifier": None}]},  # null id
        {"batchItemFailures": [{}]},
        {"batchItemFailures": "b"},
        ["b"],
        42,
    ],
)
def test_malformed_responses_fail_the_whole_batch(response: object) -> None:
    assert succeeded_ids(IDS, response) == set()


def test_visibility_timeout_rule() -> None:
    assert check_visibility_timeout("q", 180, 30, 0) is None
    warning = check_visibility_timeout("q", 30, 30, 5)
    assert warning is not None and "185s" in warning
