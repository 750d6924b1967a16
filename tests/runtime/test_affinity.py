"""One CPU per worker process: claims spread over the CPUs, and the runtime's threads
(where the tasks run) are pinned to the claimed one."""

from __future__ import annotations

import os
from pathlib import Path

import tayori
from tayori.backends.sqlite import SqliteBackend
from tayori.runtime import affinity
from tayori.runtime.local import RuntimeConfig


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if affinity.supported() else []


def test_claims_take_distinct_cpus_until_they_run_out(tmp_path: Path) -> None:
    cpus = _cpus()
    claims = [affinity.claim_cpu(str(tmp_path)) for _ in range(len(cpus) + 1)]
    try:
        if len(cpus) < 2:  # nothing to spread over: no pinning at all
            assert claims == [None] * len(claims)
            return
        taken = [c.cpu for c in claims[:-1]]  # type: ignore[union-attr]
        assert sorted(taken) == cpus  # each CPU once
        assert claims[-1] is not None and claims[-1].cpu in cpus  # then shared
        claims[0].release()  # type: ignore[union-attr]
        again = affinity.claim_cpu(str(tmp_path))
        assert again is not None and again.cpu == taken[0]  # a released CPU is free again
        again.release()
    finally:
        for claim in claims:
            if claim is not None:
                claim.release()


def test_a_pinned_runtime_runs_its_tasks_on_one_cpu(tmp_path: Path) -> None:
    app = tayori.App("pin", backend=SqliteBackend(str(tmp_path / "q")))
    seen: list[set[int]] = []

    @app.task(queue="pin")
    def where(payload: dict) -> None:
        seen.append(os.sched_getaffinity(0))

    where.send_many({"n": i} for i in range(30))
    stats = app.runtime(RuntimeConfig(concurrency=4, pin_cpu=True)).run_until_idle(timeout=60)
    assert stats.idle and len(seen) == 30
    if len(_cpus()) < 2:
        assert all(s == set(_cpus()) for s in seen)
    else:
        assert len({frozenset(s) for s in seen}) == 1 and len(seen[0]) == 1
    assert os.sched_getaffinity(0) == set(_cpus())  # the caller's thread is left alone
