"""Celery tasks of the orchestration app: thin wrappers over the engine and services."""

from celery import shared_task

from orchestration import engine, services


@shared_task(bind=True, name="orchestration.execute_step", acks_late=True, ignore_result=True)
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
    engine.step_execute(
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
    engine.steps_resend()
    engine.runs_repair()
    return engine.steps_reap()
