"""Option A: a Celery tasks module with only its import changed, on both backends."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tests.migration.conftest import option_a
from tests.migration.project.effects import effects

from tayori.errors import ConfigError, InvalidParameterValue, TaskArgumentsError
from tayori.runtime.local import RuntimeConfig
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import reason_of


@pytest.fixture
def tasks(tmp_path: Path, tayori_env: str, effects_file: Path):
    """The Celery project with only its import changed, on the embedded backend and on
    the AWS backend (moto)."""
    return option_a(tmp_path, tayori_env)


def drain(app, timeout: float = 60) -> None:
    stats = app.runtime(RuntimeConfig(concurrency=4, poll_wait_seconds=0)).run_until_idle(timeout)
    assert stats.idle, stats


def test_positional_keyword_and_typed_arguments_run_exactly_once(tasks, effects_file) -> None:
    app = tasks.app
    tasks.add.delay(1, 2)
    tasks.add.delay(3, y=4, scale=10)
    tasks.add.apply_async((5,), {"y": 6})
    sent = tasks.charge.delay(7, Decimal("9.99"), when=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    again = tasks.charge.apply_async((7, Decimal("9.99")), task_id=sent.id)  # duplicate call
    assert again.id == sent.id and sent.message_id != again.message_id
    drain(app)
    done = effects(str(effects_file))
    assert sorted(e["result"] for e in done if e["kind"] == "add") == [3, 11, 70]
    charges = [e for e in done if e["kind"] == "charge"]
    assert charges == [
        {"kind": "charge", "order_id": 7, "amount": "9.99", "types": ["Decimal", "datetime"]}
    ]
    assert app.handler.counters.snapshot()["duplicates_skipped"] == 1


def test_bind_self_retry_counts_in_the_message_and_keeps_the_task_id(tasks, effects_file):
    sent = tasks.flaky.delay("k1", fail_times=2)
    drain(tasks.app)
    (done,) = [e for e in effects(str(effects_file)) if e["kind"] == "flaky"]
    assert done == {"kind": "flaky", "key": "k1", "retries": 2, "id": sent.id}
    assert tasks.app.handler.schedule.retried == 2


def test_autoretry_exhausted_goes_to_the_dlq_with_the_reason(tasks, effects_file) -> None:
    tasks.always_times_out.delay("t1")
    drain(tasks.app)
    attempts = [e for e in effects(str(effects_file)) if e["kind"] == "attempt"]
    assert len(attempts) == 3  # the first run and max_retries=2 retries
    (dead,) = tasks.app.queue("default-dlq").receive(1)
    reason, kind = reason_of(dead.attributes)
    assert kind == "RetriesExhausted"
    assert reason == "gave up after 2 retries: TimeoutError: t1: provider timed out"
    assert Envelope.parse(dead.body).retries == 2  # the count is in the message


def test_expired_message_is_dropped_and_counted_not_run(tasks, effects_file) -> None:
    tasks.add.apply_async((1, 1), expires=datetime.now(UTC) - timedelta(seconds=1))
    tasks.add.apply_async((2, 2), expires=3600)
    drain(tasks.app)
    assert [e["result"] for e in effects(str(effects_file))] == [4]
    assert tasks.app.handler.schedule.expired == 1
    assert tasks.app.queue("default-dlq").stats().total == 0


def test_eta_and_short_countdown_are_honoured(tasks, effects_file) -> None:
    start = datetime.now(UTC)
    tasks.remind.apply_async((1, date(2026, 5, 1)), eta=start + timedelta(seconds=2))
    tasks.remind.apply_async(kwargs={"user_id": 2, "at": start}, countdown=1)
    assert tasks.app.queue("default").stats().delayed == 2
    drain(tasks.app)
    done = sorted(effects(str(effects_file)), key=lambda e: e["user_id"])
    assert [(e["user_id"], e["at_type"]) for e in done] == [(1, "date"), (2, "datetime")]
    assert datetime.now(UTC) - start >= timedelta(seconds=2)
    assert all(e["eta"] for e in done)
    assert {e["queue"] for e in done} == {"default"}  # self.request.delivery_info


def test_a_stale_copy_of_a_retried_call_does_not_run_again(tasks, effects_file) -> None:
    """The failed attempt left no idempotency record (Powertools deletes it when the task
    raises), so its retry copy - same task id - runs; once that succeeded, any other copy
    of the call (here the original, redelivered) is a duplicate and does not run."""
    queue = tasks.app.queue("default")
    tasks.flaky.delay("k2", fail_times=1)
    (original,) = queue.receive(1, visibility_timeout=0)
    drain(tasks.app)
    queue.send(original.body)  # the first delivery again (retries=0), e.g. after a redrive
    drain(tasks.app)
    runs = [e for e in effects(str(effects_file)) if e["kind"] == "flaky"]
    assert len(runs) == 1 and runs[0]["retries"] == 1
    assert tasks.app.handler.counters.snapshot()["duplicates_skipped"] == 1


def test_what_tayori_does_not_honour_is_refused_by_name(tasks) -> None:
    with pytest.raises(ConfigError, match="priority"):
        tasks.add.apply_async((1, 2), priority=5)
    with pytest.raises(ConfigError, match="link"):
        tasks.add.apply_async((1, 2), link=None)
    with pytest.raises(ConfigError, match="canvas"):
        tasks.add.s(1, 2)
    with pytest.raises(ConfigError, match="rate_limit"):
        tasks.app.task(rate_limit="10/m")(lambda: None)
    with pytest.raises(ConfigError, match="acks_late"):
        tasks.app.task(name="early", acks_late=False)(lambda: None)
    with pytest.raises(ConfigError, match="result backend"):
        tasks.add.delay(1, 2).get()
    with pytest.raises(TaskArgumentsError, match=r"add\(\).*'y'"):
        tasks.add.delay(1)
    with pytest.raises(TypeError):  # Celery raises TypeError for a bad call, so does tayori
        tasks.add.delay(1, 2, 3, 4)
    assert tasks.app.queue("default").stats().total == 1  # only the .get() probe


def test_an_argument_json_cannot_carry_fails_at_delay_naming_it(tasks) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        tasks.charge.delay(1, Decimal("1"), when=object())
    assert str(info.value).startswith("argument 'when' of task 'charge' is not JSON")
    assert "\n" not in str(info.value)


def test_djangos_encoder_is_pluggable(tmp_path: Path) -> None:
    from django.core.serializers.json import DjangoJSONEncoder

    import tayori

    app = tayori.App(
        "dj",
        settings=tayori.Settings(url=f"sqlite:///{tmp_path}/s"),
        json_encoder=DjangoJSONEncoder,
    )
    got: list = []

    @app.task
    def note(at, amount, ident):
        got.append((at, amount, ident))

    ident = uuid.uuid4()
    note.delay(datetime(2026, 1, 2, tzinfo=UTC), Decimal("1.50"), ident)
    (msg,) = app.queue("default").receive(1, visibility_timeout=0)
    assert json.loads(msg.body)["args"] == ["2026-01-02T00:00:00Z", "1.50", str(ident)]
    drain(app)
    assert got == [("2026-01-02T00:00:00Z", "1.50", str(ident))]
