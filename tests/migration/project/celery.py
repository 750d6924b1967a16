"""The project's Celery app, configured the usual way for SQS (kombu's transport)."""

import os

from celery import Celery

app = Celery("proj")
app.conf.update(
    broker_url=os.environ["PROJ_BROKER_URL"],
    broker_transport_options={"region": "us-east-1", "is_secure": False},
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=os.environ.get("PROJ_QUEUE", "celery"),
    task_acks_late=True,
)
