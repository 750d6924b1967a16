"""The six scenarios of the reliability harness; each returns a ``ScenarioResult``."""
