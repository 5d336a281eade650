"""Celery application: `celery -A config worker -B` works out of the box."""
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundstation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def recycle_database_connections(task=None, **_) -> None:
    """Treat each task like a request: drop connections that are broken or older than
    CONN_MAX_AGE (and health-check the rest on first use), keep the others open.
    Eager calls run inside their caller's request or transaction and are left alone."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
