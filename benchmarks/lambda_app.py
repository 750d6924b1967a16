"""A minimal tayori Lambda function module, as a user would deploy it (cold-start subject)."""

from __future__ import annotations

import tayori

app = tayori.App("coldstart")


@app.task(queue="mail", idempotency_key="id")
def send_one(payload: dict) -> None:
    return None


handler = app.lambda_handler
