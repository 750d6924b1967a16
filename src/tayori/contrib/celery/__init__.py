"""Run an unchanged Celery app's tasks on Lambda (option B of docs/migrating-from-celery.md).

    # lambda_function.py
    from proj.celery import app
    from tayori.contrib.celery import CeleryWorker

    worker = CeleryWorker(app)
    lambda_handler = worker.lambda_handler

Locally: ``tayori worker --app proj.celery:app`` (a Celery app is wrapped the same way).
"""

from tayori.contrib.celery.tasks import CeleryRegistry, CeleryTaskDef
from tayori.contrib.celery.worker import CeleryWorker, sqs_queue_names

__all__ = ["CeleryRegistry", "CeleryTaskDef", "CeleryWorker", "sqs_queue_names"]
