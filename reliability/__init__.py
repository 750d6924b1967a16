"""The reliability harness: crash, fault and contention scenarios that count every message.

``python -m reliability [--smoke] [--json FILE]`` runs them all and prints the
table (``reliability.run.run_all`` from code); ``tests/reliability`` runs the
smoke sizes in CI. See docs/reliability.md. Nothing is imported here, so that the
worker and producer modules start as ``python -m`` without importing every scenario.
"""
