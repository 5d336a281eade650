"""Out-of-process helper for the worker-kill test: runs against the database and broker named
by the environment (the test's private ones), prints JSON.

    python -m tests.orchestration.kill_driver setup <url>
    python -m tests.orchestration.kill_driver redeliver <step_pk>
    python -m tests.orchestration.kill_driver state <run_id>
    python -m tests.orchestration.kill_driver reap
    python -m tests.orchestration.kill_driver crash     (an execution of a pure step that kills its worker)
"""

import json
import os
import sys
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.utils import timezone  # noqa: E402

from orchestration import services  # noqa: E402
from orchestration.engine import reaper  # noqa: E402
from orchestration.models import Run, StepRun  # noqa: E402
from orchestration.tasks import execute_step  # noqa: E402
from tenants.models import Tenant  # noqa: E402

DEFINITION = """
name: side-effect
inputs: {url: {type: string}}
steps:
  - id: effect
    satellite: http.request
    inputs: {method: POST, url: "${{ inputs.url }}", body: {charge: 1}, timeout_seconds: 60}
    timeout_seconds: 5
  - id: after
    satellite: echo
    depends_on: [effect]
    join: all_done
    inputs: {message: carried on}
"""


def main(command: str, *args: str) -> object:
    if command == "setup":
        tenant = Tenant.objects.create(name="Kill test", slug="kill-test")
        cluster = services.cluster_create(tenant=tenant, definition=DEFINITION)
        run = services.run_trigger(cluster=cluster, inputs={"url": args[0]})
        return {"run_id": str(run.pk), "step_pk": str(run.steps.get(step_id="effect").pk)}
    if command == "crash":
        import tests.orchestration.crash_satellite  # noqa: F401  (registers test.crash)

        tenant = Tenant.objects.create(name="Crash test", slug="crash-test")
        run = services.execution_create(tenant=tenant, satellite="test.crash", inputs={})
        return {"run_id": str(run.pk), "step_pk": str(run.steps.get().pk)}
    if command == "redeliver":
        # What the broker does with an unacknowledged message once its worker is gone: the
        # same task id (claim token) and arguments, delivered again.
        step = StepRun.objects.get(pk=args[0])
        execute_step.apply_async(args=[str(step.pk)], task_id=step.task_id)
        return {"task_id": step.task_id}
    if command == "state":
        run = Run.objects.get(pk=args[0])
        steps = {s.step_id: {"status": s.status, "attempts": s.attempts, "error": s.error} for s in run.steps.all()}
        return {"status": run.status, "steps": steps}
    if command == "reap":
        return {"reaped": reaper.steps_reap(at=timezone.now() + timedelta(hours=1))}
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
