"""Deployments follow their runs through orchestration's `run_status_changed` signal."""
import logging

from django.db import transaction
from django.dispatch import receiver

from deployments import services
from orchestration.engine.events import run_status_changed

logger = logging.getLogger("groundstation.deployments")


@receiver(run_status_changed, dispatch_uid="deployments.follow_run")
def follow_run(sender, run, **kwargs):
    # In a savepoint: a failure here must not undo (or fail) the engine's own change; the
    # periodic `deployments.sweep` brings such a deployment in line with its run later.
    try:
        with transaction.atomic():
            services.deployment_follow_run(run=run)
    except Exception:
        logger.exception("following run %s failed", run.pk)
