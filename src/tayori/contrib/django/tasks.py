"""Send a task only once the database transaction that needs it has committed.

A task sent inside ``transaction.atomic()`` can run before the row it reads exists (or
after the transaction rolled back, for a row that never will): the single most common
Celery-with-Django bug. These helpers hand the send to ``transaction.on_commit``::

    with transaction.atomic():
        order = Order.objects.create(...)
        send_on_commit(notify, {"order_id": order.pk})   # sent after COMMIT, never on rollback

Outside a transaction (autocommit) the send happens at once, as Django runs on_commit
callbacks immediately then.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction


def send_on_commit(
    task: Any,
    payload: Any,
    *,
    delay_seconds: int = 0,
    using: str | None = None,
    robust: bool = False,
) -> None:
    """``task.send(payload)`` after the current transaction on ``using`` commits.

    The message id is not returned: there is none until the commit. ``robust=True``
    (Django >= 4.2) logs a failed send instead of raising it out of the commit.
    """
    transaction.on_commit(
        lambda: task.send(payload, delay_seconds=delay_seconds), using=using, robust=robust
    )


def delay_on_commit(task: Any, *args: Any, using: str | None = None, **kwargs: Any) -> None:
    """Celery's ``task.delay_on_commit(...)``: ``task.delay(...)`` after the commit."""
    transaction.on_commit(lambda: task.delay(*args, **kwargs), using=using)
