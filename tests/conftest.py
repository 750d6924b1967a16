"""Shared fixtures. Area fixtures live in tests/fixtures/ and are loaded here."""

pytest_plugins: list[str] = ["tests.fixtures.moto", "tests.fixtures.smtp"]
