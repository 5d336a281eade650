"""Reaching the task broker from any floor: the platform's Celery app is Celery's current app
(config/celery.py creates it and config/__init__.py imports it in every process), so domains
need not import the roof to send a task or ask whether the broker answers."""
from celery import current_app


def check_broker(timeout: float = 2.0) -> None:
    """Raise if the broker does not take a connection now (one attempt, no retry)."""
    with current_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=0, timeout=timeout)
