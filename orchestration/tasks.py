"""Celery tasks of the orchestration app: thin wrappers over the engine and services."""

import logging

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.worker.request import Request

from orchestration import services
from orchestration.engine import reaper, worker

logger = logging.getLogger("groundstation.orchestration")


class StepRequest(Request):
    """A step delivery as the worker's main process sees it: when the process running it is
    lost, the engine counts the loss (and may fail the step); a step it failed is not put back
    on the queue, where it would kill the next worker too."""

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # billiard wraps it
        if isinstance(exc, WorkerLostError):
            self._given_up = self._lost()
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def on_timeout(self, soft, timeout):
        if not soft:  # the child was killed; Celery acks the message, the reaper re-sends it
            self._lost()
        return super().on_timeout(soft, timeout)

    def reject(self, requeue=False):
        return super().reject(requeue=requeue and not getattr(self, "_given_up", False))

    def _lost(self) -> bool:
        try:
            return reaper.step_lost(step_pk=self.args[0], task_id=self.id)
        except Exception:  # the reaper still times out or re-sends the step
            logger.exception("could not record a lost step delivery", extra={"task_id": self.id})
            return False


@shared_task(
    bind=True, name="orchestration.execute_step", acks_late=True, ignore_result=True, Request=StepRequest
)
def execute_step(
    self,
    step_pk: str,
    run_pk: str | None = None,
    step_id: str | None = None,
    attempt: int | None = None,
    outputs: dict | None = None,
) -> None:
    """Run one attempt of one step; the task id is the attempt's claim token. `outputs` are
    small upstream outputs its inputs use, carried in the message."""
    worker.step_execute(
        step_pk=step_pk,
        task_id=self.request.id,
        worker=self.request.hostname or "",
        run_pk=run_pk,
        step_id=step_id,
        attempt=attempt,
        outputs=outputs,
    )


@shared_task(name="orchestration.trigger_scheduled", ignore_result=True)
def trigger_scheduled(cluster_id: str) -> None:
    services.cluster_trigger_scheduled(cluster_id=cluster_id)


@shared_task(name="orchestration.reap", ignore_result=True)
def reap() -> int:
    """Time out steps whose worker was lost, re-send steps whose message was lost, and finish
    what a crash between a completion and its follow-up left undone."""
    reaper.steps_resend()
    reaper.runs_repair()
    return reaper.steps_reap()
