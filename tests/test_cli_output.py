"""``safe``: what reaches a terminal from queue data cannot drive the terminal."""

from __future__ import annotations

import pytest

from tayori.cli.output import safe


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),  # one table row stays one row
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("abc\u202edcba", "abc\\u202edcba"),  # bidi override (text shown reversed)
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("\x7f", "\\x7f"),
    ],
)
def test_control_characters_are_shown_as_escapes(raw: str, shown: str) -> None:
    assert safe(raw) == shown


def test_ordinary_text_is_unchanged() -> None:
    for text in ("便り 🙂 café", "a@example.org", "[bold]not markup[/bold]", ""):
        assert safe(text) == text
    assert safe(None) == "" and safe(42) == "42"
