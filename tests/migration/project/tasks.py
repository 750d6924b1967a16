"""Tasks of the kind Celery users write: positional and keyword arguments, bind=True with
self.retry, autoretry_for, datetime and Decimal arguments."""

from .celery import app
from .effects import effect


@app.task
def add(x, y, scale=1):
    effect("add", result=(x + y) * scale)


@app.task(bind=True, max_retries=3, default_retry_delay=0)
def flaky(self, key, fail_times=2):
    if self.request.retries < fail_times:
        raise self.retry(exc=ConnectionError(f"{key}: provider down"), countdown=0)
    effect("flaky", key=key, retries=self.request.retries, id=self.request.id)


@app.task(autoretry_for=(TimeoutError,), max_retries=2, default_retry_delay=0)
def always_times_out(key):
    effect("attempt", key=key)
    raise TimeoutError(f"{key}: provider timed out")


@app.task(bind=True)
def remind(self, user_id, at):
    effect(
        "remind",
        user_id=user_id,
        at_type=type(at).__name__,
        eta=self.request.eta,
        queue=self.request.delivery_info.get("routing_key"),
    )


@app.task
def charge(order_id, amount, when=None):
    effect(
        "charge",
        order_id=order_id,
        amount=str(amount),
        types=[type(amount).__name__, type(when).__name__],
    )
