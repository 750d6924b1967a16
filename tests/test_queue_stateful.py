"""The embedded queue against a small reference model of SQS standard-queue semantics.

Time-independent on purpose: every receive uses a visibility timeout of 0 (visible
again at once) or 3600 (in flight for the whole example), so no rule depends on the
clock. Invariants: an in-flight message is never handed out again, nothing is lost,
deleted messages never come back, and the stats match the model.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tayori.backends.base import HandleEntry, QueueSpec, SendEntry
from tayori.backends.sqlite import SqliteBackend
from tayori.errors import MessageNotInflight, ReceiptHandleIsInvalid

BODIES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
)
VISIBILITY = st.sampled_from([0, 3600])


@dataclass
class ModelMessage:
    body: str
    in_flight: bool = False
    receive_count: int = 0
    handles: list[str] = field(default_factory=list)  # every handle issued, newest last


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="tayori-stateful-")
        self.backend = SqliteBackend(self.dir)
        self.queue = self.backend.create_queue("model", QueueSpec(visibility_timeout=3600))
        self.live: dict[str, ModelMessage] = {}
        self.deleted: dict[str, ModelMessage] = {}

    def teardown(self) -> None:
        self.backend.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ helpers

    def visible_ids(self) -> set[str]:
        return {mid for mid, m in self.live.items() if not m.in_flight}

    def received(self) -> list[str]:
        return [mid for mid, m in self.live.items() if m.handles]

    # Lists keep insertion order (never sorted: ids are random, the order must not be)
    # so that hypothesis replays the same logical choices.
    def stale_handles(self) -> list[tuple[str, str]]:
        out = [(mid, h) for mid, m in self.live.items() for h in m.handles[:-1]]
        out += [(mid, h) for mid, m in self.deleted.items() for h in m.handles]
        return out

    # ------------------------------------------------------------------ rules

    @rule(body=BODIES, delay=st.just(0))
    def send(self, body: str, delay: int) -> None:
        message_id = self.queue.send(body, delay_seconds=delay)
        assert message_id not in self.live and message_id not in self.deleted
        self.live[message_id] = ModelMessage(body)

    @rule(bodies=st.lists(BODIES, min_size=1, max_size=10))
    def send_batch(self, bodies: list[str]) -> None:
        entries = [SendEntry(f"e{i}", body) for i, body in enumerate(bodies)]
        result = self.queue.send_batch(entries)
        assert result.failed == ()
        assert sorted(r.id for r in result.successful) == sorted(e.id for e in entries)
        for r in result.successful:
            assert r.message_id is not None
            self.live[r.message_id] = ModelMessage(bodies[int(r.id[1:])])

    @rule(max_messages=st.integers(1, 10), visibility=VISIBILITY)
    def receive(self, max_messages: int, visibility: int) -> None:
        visible = self.visible_ids()
        got = self.queue.receive(max_messages=max_messages, visibility_timeout=visibility)
        ids = [m.message_id for m in got]
        assert len(ids) == len(set(ids)), "one receive returned a message twice"
        assert len(got) == min(max_messages, len(visible))
        for msg in got:
            assert msg.message_id not in self.deleted, "a deleted message came back"
            assert msg.message_id in visible, "an in-flight message was handed out again"
            model = self.live[msg.message_id]
            assert msg.body == model.body
            assert msg.receive_count == model.receive_count + 1
            assert msg.receipt_handle not in model.handles
            model.receive_count += 1
            model.handles.append(msg.receipt_handle)
            model.in_flight = visibility > 0

    @precondition(lambda self: self.received())
    @rule(data=st.data())
    def delete_current(self, data: st.DataObject) -> None:
        mid = data.draw(st.sampled_from(self.received()))
        model = self.live.pop(mid)
        self.queue.delete(model.handles[-1])
        self.deleted[mid] = model

    @precondition(lambda self: self.stale_handles())
    @rule(data=st.data())
    def delete_stale(self, data: st.DataObject) -> None:
        _, handle = data.draw(st.sampled_from(self.stale_handles()))
        self.queue.delete(handle)  # success, and (embedded) deletes nothing

    @precondition(lambda self: self.received())
    @rule(data=st.data(), visibility=VISIBILITY)
    def change_visibility_current(self, data: st.DataObject, visibility: int) -> None:
        mid = data.draw(st.sampled_from(self.received()))
        model = self.live[mid]
        if model.in_flight:
            self.queue.change_visibility(model.handles[-1], visibility)
            model.in_flight = visibility > 0
        else:
            with pytest.raises(MessageNotInflight):
                self.queue.change_visibility(model.handles[-1], visibility)

    @precondition(lambda self: self.stale_handles())
    @rule(data=st.data(), visibility=VISIBILITY)
    def change_visibility_stale(self, data: st.DataObject, visibility: int) -> None:
        _, handle = data.draw(st.sampled_from(self.stale_handles()))
        with pytest.raises(ReceiptHandleIsInvalid):
            self.queue.change_visibility(handle, visibility)

    @precondition(lambda self: self.received())
    @rule(data=st.data())
    def delete_batch(self, data: st.DataObject) -> None:
        mids = data.draw(
            st.lists(st.sampled_from(self.received()), min_size=1, max_size=5, unique=True)
        )
        stale_pool = [h for _, h in self.stale_handles()]
        stale = data.draw(st.lists(st.sampled_from(stale_pool), max_size=3)) if stale_pool else []
        entries = [HandleEntry(f"c{i}", self.live[mid].handles[-1]) for i, mid in enumerate(mids)]
        entries += [HandleEntry(f"s{i}", h) for i, h in enumerate(stale)]
        result = self.queue.delete_batch(entries)
        assert result.failed == ()
        assert len(result.successful) == len(entries)
        for mid in mids:
            self.deleted[mid] = self.live.pop(mid)

    @precondition(lambda self: any(m.in_flight for m in self.live.values()))
    @rule(data=st.data(), visibility=VISIBILITY)
    def change_visibility_batch(self, data: st.DataObject, visibility: int) -> None:
        in_flight = [mid for mid, m in self.live.items() if m.in_flight]
        mids = data.draw(st.lists(st.sampled_from(in_flight), min_size=1, max_size=5, unique=True))
        entries = [
            HandleEntry(f"c{i}", self.live[mid].handles[-1], visibility)
            for i, mid in enumerate(mids)
        ]
        result = self.queue.change_visibility_batch(entries)
        assert result.failed == ()
        for mid in mids:
            self.live[mid].in_flight = visibility > 0

    @rule()
    def drain(self) -> None:
        """Receive everything visible: exactly the model's visible messages, none lost."""
        expected = self.visible_ids()
        got: list[str] = []
        for _ in range(len(expected) + 1):  # bounded: a bug must fail, not hang
            batch = self.queue.receive(max_messages=10, visibility_timeout=3600)
            if not batch:
                break
            for msg in batch:
                model = self.live[msg.message_id]
                model.receive_count += 1
                model.handles.append(msg.receipt_handle)
                model.in_flight = True
            got += [m.message_id for m in batch]
        assert len(got) == len(set(got))
        assert set(got) == expected

    # ------------------------------------------------------------------ invariants

    @invariant()
    def stats_match_the_model(self) -> None:
        stats = self.queue.stats()
        in_flight = sum(m.in_flight for m in self.live.values())
        assert stats.in_flight == in_flight
        assert stats.visible == len(self.live) - in_flight
        assert stats.delayed == 0
        assert stats.total == len(self.live)


QueueMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueStateful = QueueMachine.TestCase
