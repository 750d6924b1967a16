"""The README's two set-up commands are the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_states_the_demo_and_test_commands_near_the_top() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()[:20]
    commands = [line.strip() for line in lines if line.startswith("    ")]
    assert commands[0] == "pip install . && tayori demo"
    assert re.fullmatch(r"pip install -e '\.\[test,bench\]' && python -m pytest.*", commands[1])


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and 'bash -c "$TEST_COMMAND"' in ci
