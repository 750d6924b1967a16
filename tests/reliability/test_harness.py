"""The reliability harness at its smoke sizes (CI): every scenario, nothing lost.

Duplicates are allowed only inside the counted window (emails the provider had
accepted when a worker was killed, before their idempotency record completed);
``ScenarioResult.ok`` also checks the expected dead letters and worker health.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability.result import ScenarioResult
from reliability.run import NAMES, SMOKE, scenarios

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", NAMES)
def test_scenario_at_smoke_size(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    results: list[ScenarioResult] = scenarios(tmp_path, SMOKE)[name]()
    for r in results:
        assert r.lost == 0, (r.name, r.details)
        assert r.duplicates <= (r.window or 0), (r.name, r.details)
        assert r.ok, (r.name, r.problems, r.to_dict())
        assert r.delivered + r.expected_dead == r.messages_in or r.name.startswith("storage")


def test_the_documented_command_runs_from_the_repository_root(tmp_path: Path) -> None:
    """docs/reliability.md: ``python -m reliability ...`` from a checkout (the harness is
    not in the wheel); here its smallest form, one scenario at smoke size, as a user runs it."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "out.json"
    run = subprocess.run(
        [sys.executable, "-m", "reliability", "--smoke", "--only", "faults", "--json", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert json.loads(out.read_text())
    assert not (root / "src" / "tayori" / "reliability").exists()
