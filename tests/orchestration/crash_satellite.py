"""A pure satellite that kills the process running it, for the redelivery test. Imported by the
test's worker (`celery worker -I`) and driver only, never by the product."""

import os
import signal

from orchestration.satellites.registry import satellite


@satellite(
    "test.crash",
    description="Appends a line to CRASH_LOG, then SIGKILLs its own process.",
    inputs={"type": "object"},
    outputs={"type": "object"},
    default_timeout=30,
    pure=True,
)
def crash(inputs: dict, ctx) -> dict:
    with open(os.environ["CRASH_LOG"], "a") as log:
        log.write(f"{os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)
    return {}
