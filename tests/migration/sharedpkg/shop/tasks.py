"""A reusable app's tasks: no App import, as with Celery's shared_task."""

from tayori import shared_task

RAN: list = []


@shared_task
def ship(order_id, express=False):
    RAN.append((order_id, express))


@shared_task(bind=True, max_retries=1, default_retry_delay=0)
def audit(self, note):
    RAN.append(("audit", note, self.request.retries))
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("once more"))
