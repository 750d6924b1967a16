"""The reliability harness at its smoke sizes (CI): every scenario, nothing lost.

Duplicates are allowed only inside the counted window (emails the provider had
accepted when a worker was killed, before their idempotency record completed);
``ScenarioResult.ok`` also checks the expected dead letters and worker health.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tayori.reliability.result import ScenarioResult
from tayori.reliability.run import NAMES, SMOKE, scenarios

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", NAMES)
def test_scenario_at_smoke_size(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    results: list[ScenarioResult] = scenarios(tmp_path, SMOKE)[name]()
    for r in results:
        assert r.lost == 0, (r.name, r.details)
        assert r.duplicates <= (r.window or 0), (r.name, r.details)
        assert r.ok, (r.name, r.problems, r.to_dict())
        assert r.delivered + r.expected_dead == r.messages_in or r.name.startswith("storage")
