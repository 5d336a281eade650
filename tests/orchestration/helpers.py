"""Waiting for runs driven by a real worker."""

import time

from orchestration.models import TERMINAL_RUN_STATUSES, AgentTask, Run, StepRun


def wait_for(predicate, *, timeout: float, what: str):
    """Poll `predicate` until it is truthy (returned) or `timeout` seconds have passed (fails)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_run(run_id, *, timeout: float = 30.0, statuses=TERMINAL_RUN_STATUSES) -> Run:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        run = Run.objects.get(pk=run_id)
        if run.status in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {Run.objects.get(pk=run_id).status} after {timeout}s")


def wait_for_step(run_id, step_id: str, status: str, *, timeout: float = 30.0) -> StepRun:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        step = StepRun.objects.get(run_id=run_id, step_id=step_id)
        if step.status == status:
            return step
        time.sleep(0.05)
    raise AssertionError(f"step {step_id} never reached {status}")


def wait_for_task(task_id, statuses, *, timeout: float = 30.0) -> AgentTask:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        task = AgentTask.objects.get(pk=task_id)
        if task.status in statuses:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never reached {statuses}")
