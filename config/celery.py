"""Celery application: `celery -A config worker -B` works out of the box."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundstation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
