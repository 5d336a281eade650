"""Family 5: two `celery beat` processes at once (a failover pair both up, or a botched deploy).

Real processes against a private database and broker (tests/orchestration/test_worker_kill.py's
`private_env`): two beats and one worker run until both beats have sent the every-minute
cluster's cron tick of the same minute, every node was checked twice and the worker has run
every scheduled send (or longer, by hand, with `HARDENING_BEAT_SECONDS`). Every node is checked
at most once per interval, and each tick starts one run. Progress is read from the processes'
own logs, kept under the test's tmp_path and shown on failure; every wait is bounded.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration.services import SCHEDULE_TASK
from tests.hardening import figures
from tests.monitoring.servers import http_server
from tests.orchestration.test_worker_kill import private_env  # noqa: F401  (fixture, reused)

pytestmark = pytest.mark.worker
ROOT = Path(__file__).resolve().parents[2]
NODES = 20
INTERVAL = 10  # beat_driver.INTERVAL_SECONDS
# A cron tick comes at most 60 s after both beats are up; the rest is start-up on a busy machine.
TICK_TIMEOUT = 240
DRAIN_TIMEOUT = 60
TEXT_MINUTE = re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d)")


def driver(env, *args) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.hardening.beat_driver", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def celery(env, log: Path, *args) -> subprocess.Popen:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", *args, "-l", "INFO"], cwd=ROOT,
                                env={**env, "LOG_LEVEL": "INFO"}, start_new_session=True, stdout=out,
                                stderr=subprocess.STDOUT)


def log_lines(log: Path, *needles: str) -> list[tuple[str, str]]:
    """(minute, message) of every line of a process's log containing all `needles` (JSON lines
    or Celery's own text format, whichever the process wrote)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if not all(n in line for n in needles):
            continue
        try:
            record = json.loads(line)
            minute = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).astimezone(UTC)
            found.append((minute.strftime("%Y-%m-%d %H:%M"), record.get("event", line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            match = TEXT_MINUTE.search(line)
            found.append((match.group(1).replace("T", " ") if match else "", line))
    return found


def tails(logs: dict[str, Path], lines: int = 30) -> str:
    parts = []
    for name, path in logs.items():
        last = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {name}: last {lines} lines of {path} ---\n" + "\n".join(last))
    return "\n".join(parts)


def wait_until(predicate, timeout: float, what: str, logs, processes):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        dead = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        assert not dead, f"process exited early {dead}\n{tails(logs)}"
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails(logs)}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_two_beats_check_each_node_once_per_interval_and_start_one_run_per_tick(private_env, tmp_path):  # noqa: F811
    minimum = float(os.environ.get("HARDENING_BEAT_SECONDS", 0))  # by hand, e.g. 200: several ticks
    with http_server() as server:  # the nodes' target: answers 200
        cluster_id = driver(private_env, "setup", str(server.port), str(NODES))["cluster_id"]
        entry = f"Sending due task cluster {cluster_id}"
        logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat-1", "beat-2")}
        beats = {name: ("beat", "-s", str(tmp_path / name), "--pidfile", str(tmp_path / f"{name}.pid"))
                 for name in ("beat-1", "beat-2")}
        started = time.monotonic()
        processes = {"worker": celery(private_env, logs["worker"], "worker", "-P", "threads", "-c", "4", "-n",
                                      "w1@%h", "--without-heartbeat", "--without-mingle", "--without-gossip")}
        processes.update({name: celery(private_env, logs[name], *args) for name, args in beats.items()})
        try:
            def both_beats_sent_one_tick_and_every_node_was_checked_twice():
                minutes = [{m for m, _ in log_lines(logs[name], entry)} for name in beats]
                if not (minutes[0] & minutes[1]) or time.monotonic() - started < minimum:
                    return False
                checks = driver(private_env, "report")["checks"]  # a process start: only once the logs agree
                return len(checks) == NODES and min(len(times) for times in checks.values()) >= 2

            wait_until(both_beats_sent_one_tick_and_every_node_was_checked_twice, TICK_TIMEOUT + minimum,
                       "both beats to send the same cron tick and every node to be checked twice", logs, processes)
            for name in beats:
                stop(processes.pop(name))
            sends = sum(len(log_lines(logs[name], entry)) for name in beats)
            wait_until(lambda: len(log_lines(logs["worker"], SCHEDULE_TASK, "succeeded")) >= sends, DRAIN_TIMEOUT,
                       f"the worker to run all {sends} scheduled sends", logs, processes)
        finally:
            for process in processes.values():
                stop(process)
    elapsed = time.monotonic() - started
    report = driver(private_env, "report")

    where = f"\nreport: {json.dumps(report)[:2000]}\n{tails(logs)}"
    checks = report["checks"]
    assert len(checks) == NODES, f"only {len(checks)} nodes were checked{where}"
    gaps = [b - a for times in checks.values() for a, b in zip(times, times[1:], strict=False)]
    per_node = [len(times) for times in checks.values()]
    # The claim moves a node one interval ahead before it is checked; a second beat finds nothing.
    # (`elapsed` spans the processes' whole life, so the bound is generous, never tight.)
    assert max(per_node) <= elapsed // INTERVAL + 1, f"{per_node} in {elapsed:.0f}s{where}"
    # (Gaps between one node's checks are not asserted: under load a claimed check may run late,
    # which shortens the gap to the next one without adding a check.)
    runs = report["scheduled_runs_per_minute"]
    sent_minutes = {m for name in beats for m, _ in log_lines(logs[name], entry)}
    assert runs and set(runs.values()) == {1}, f"runs per minute {runs}{where}"
    assert len(runs) == len(sent_minutes), f"ticks sent {sorted(sent_minutes)}, runs {runs}{where}"
    figures.record("faults.two_beats", seconds=round(elapsed), nodes=NODES, checks=sum(per_node),
                   max_checks_per_node=max(per_node), min_gap_seconds=round(min(gaps), 1) if gaps else None,
                   scheduled_ticks=len(runs), scheduled_sends=sends, runs_per_tick=sorted(set(runs.values())))


@pytest.mark.django_db
def test_the_same_tick_sent_twice_starts_one_run_and_the_next_tick_another(tenant, monkeypatch):
    from orchestration import clock, services
    from orchestration.models import Run
    from orchestration.tasks import trigger_scheduled

    cluster = services.cluster_create(tenant=tenant, definition=(
        "name: cron\nschedule: \"* * * * *\"\nsteps:\n  - {id: a, satellite: echo}\n"))
    tick = datetime(2030, 1, 1, 3, 0, 0, 400_000, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: tick)
    trigger_scheduled(str(cluster.pk))  # beat 1
    monkeypatch.setattr(clock, "now", lambda: tick.replace(second=1))
    trigger_scheduled(str(cluster.pk))  # beat 2, a moment later, same tick
    assert Run.objects.filter(cluster=cluster, trigger=Run.Trigger.SCHEDULE).count() == 1
    monkeypatch.setattr(clock, "now", lambda: tick.replace(minute=1))
    trigger_scheduled(str(cluster.pk))
    assert Run.objects.filter(cluster=cluster, trigger=Run.Trigger.SCHEDULE).count() == 2
