"""Family 5: two `celery beat` processes at once (a failover pair both up, or a botched deploy).

Real processes against a private database and broker (tests/orchestration/test_worker_kill.py's
`private_env`): two beats and one worker run across a minute boundary (or longer, by hand, with
`HARDENING_BEAT_SECONDS`). Every node is checked
at most once per interval, and the every-minute cluster gets one scheduled run per tick.
"""
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.hardening import figures
from tests.monitoring.servers import http_server
from tests.orchestration.test_worker_kill import private_env  # noqa: F401  (fixture, reused)

pytestmark = pytest.mark.worker
ROOT = Path(__file__).resolve().parents[2]
NODES = 20
INTERVAL = 10  # beat_driver.INTERVAL_SECONDS


def driver(env, *args) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.hardening.beat_driver", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def celery(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", *args, "-l", "WARNING"], cwd=ROOT,
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_two_beats_check_each_node_once_per_interval_and_start_one_run_per_tick(private_env, tmp_path):  # noqa: F811
    with http_server() as server:  # the nodes' target: answers 200
        driver(private_env, "setup", str(server.port), str(NODES))
        processes = [
            celery(private_env, "worker", "-P", "threads", "-c", "4", "-n", "w1@%h", "--without-heartbeat",
                   "--without-mingle", "--without-gossip"),
            celery(private_env, "beat", "-s", str(tmp_path / "beat-1"), "--pidfile", str(tmp_path / "beat-1.pid")),
            celery(private_env, "beat", "-s", str(tmp_path / "beat-2"), "--pidfile", str(tmp_path / "beat-2.pid")),
        ]
        started = time.time()
        try:
            # Run across one minute boundary (the cron tick), plus time for its run to be recorded.
            # HARDENING_BEAT_SECONDS=200 (by hand) covers several ticks.
            seconds_to_tick = 60 - datetime.now(UTC).second
            time.sleep(max(seconds_to_tick + 8, 33, int(os.environ.get("HARDENING_BEAT_SECONDS", 0))))
            assert all(p.poll() is None for p in processes), [p.returncode for p in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
    elapsed = time.time() - started
    report = driver(private_env, "report")

    checks = report["checks"]
    assert len(checks) == NODES, f"only {len(checks)} nodes were checked"
    gaps = [b - a for times in checks.values() for a, b in zip(times, times[1:], strict=False)]
    per_node = [len(times) for times in checks.values()]
    # The claim moves a node one interval ahead before it is checked; a second beat finds nothing.
    assert max(per_node) <= elapsed // INTERVAL + 1, per_node
    # (Gaps between one node's checks are not asserted: under load a claimed check may run late,
    # which shortens the gap to the next one without adding a check.)
    runs = report["scheduled_runs_per_minute"]
    assert runs and set(runs.values()) == {1}, runs
    figures.record("faults.two_beats", seconds=round(elapsed), nodes=NODES, checks=sum(per_node),
                   max_checks_per_node=max(per_node), min_gap_seconds=round(min(gaps), 1) if gaps else None,
                   scheduled_ticks=len(runs), runs_per_tick=sorted(set(runs.values())))


@pytest.mark.django_db
def test_the_same_tick_sent_twice_starts_one_run_and_the_next_tick_another(tenant, monkeypatch):
    from orchestration import engine, services
    from orchestration.models import Run
    from orchestration.tasks import trigger_scheduled

    cluster = services.cluster_create(tenant=tenant, definition=(
        "name: cron\nschedule: \"* * * * *\"\nsteps:\n  - {id: a, satellite: echo}\n"))
    tick = datetime(2030, 1, 1, 3, 0, 0, 400_000, tzinfo=UTC)
    monkeypatch.setattr(engine, "now", lambda: tick)
    trigger_scheduled(str(cluster.pk))  # beat 1
    monkeypatch.setattr(engine, "now", lambda: tick.replace(second=1))
    trigger_scheduled(str(cluster.pk))  # beat 2, a moment later, same tick
    assert Run.objects.filter(cluster=cluster, trigger=Run.Trigger.SCHEDULE).count() == 1
    monkeypatch.setattr(engine, "now", lambda: tick.replace(minute=1))
    trigger_scheduled(str(cluster.pk))
    assert Run.objects.filter(cluster=cluster, trigger=Run.Trigger.SCHEDULE).count() == 2
