"""Celery tasks of the recommendations app: thin wrappers over `training`."""
from celery import shared_task

from recommendations import training


@shared_task(name="recommendations.train_model", acks_late=True)
def train_model(model_id: str) -> str:
    return training.model_train(model_id=model_id).status


@shared_task(name="recommendations.train_due")
def train_due() -> int:
    """The schedule (RECOMMENDER_TRAIN_INTERVAL_MINUTES): tenants with new interactions."""
    return training.train_due_tenants()
