"""Engine pieces without a worker: backoff, templates, the reaper, live status pushes,
duplicate deliveries."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from monitoring.live import tenant_group
from orchestration import services
from orchestration.engine import completion, dispatch, reaper
from orchestration.engine import worker as step_worker
from orchestration.models import StepRun
from orchestration.templating import TemplateError, render
from tests.orchestration.factories import make_cluster

CHAIN = "name: chain\nsteps:\n  - {id: a, satellite: echo}\n  - {id: b, satellite: echo, depends_on: [a]}\n"


@pytest.mark.parametrize(
    ("backoff", "attempt", "expected"),
    [
        ("fixed", 1, 2.0),
        ("fixed", 3, 2.0),
        ("linear", 3, 6.0),
        ("exponential", 1, 2.0),
        ("exponential", 3, 8.0),
        ("exponential", 10, 30.0),
    ],
)
def test_backoff_grows_per_policy_and_is_capped(backoff, attempt, expected):
    policy = {"backoff": backoff, "delay_seconds": 2, "max_delay_seconds": 30, "jitter": 0}
    assert completion.retry_delay(policy, attempt) == expected


def test_jitter_keeps_the_delay_within_its_band():
    policy = {"backoff": "fixed", "delay_seconds": 10, "max_delay_seconds": 60, "jitter": 0.5}
    delays = {completion.retry_delay(policy, 1) for _ in range(200)}
    assert all(5.0 <= d <= 10.0 for d in delays) and len(delays) > 50


def test_templates_keep_types_for_whole_values_and_interpolate_inside_text():
    context = {"inputs": {"n": 3, "tags": ["a"]}, "steps": {"s": {"outputs": {"body": {"items": [1, 2]}}}}, "run": {}}
    value = {
        "whole": "${{ steps.s.outputs.body }}",
        "text": "n=${{ inputs.n }} tags=${{inputs.tags}}",
        "item": "${{ steps.s.outputs.body.items[1] }}",
        "secret": "Bearer ${{ secrets.KEY }}",
    }
    rendered = render(value, context, secret=lambda name: f"<{name}>")
    assert rendered == {"whole": {"items": [1, 2]}, "text": 'n=3 tags=["a"]', "item": 2, "secret": "Bearer <KEY>"}
    with pytest.raises(TemplateError, match="has no field 'missing'"):
        render("${{ steps.s.outputs.missing }}", context, secret=str)


def test_a_duplicate_delivery_of_a_step_is_ignored(db, tenant):
    run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    step = run.steps.get(step_id="a")
    assert step_worker.step_claim(step_pk=step.pk, task_id=step.task_id, worker="w1") is not None
    assert step_worker.step_claim(step_pk=step.pk, task_id=step.task_id, worker="w2") is None  # redelivered
    assert step_worker.step_claim(step_pk=step.pk, task_id="stale-token", worker="w3") is None
    step.refresh_from_db()
    assert (step.status, step.attempts, step.worker) == ("running", 1, "w1")


def _deliver(message: dispatch.StepMessage, *, worker: str = "w") -> None:
    step_worker.step_execute(
        step_pk=message.step_pk,
        task_id=message.task_id,
        worker=worker,
        run_pk=message.run_pk,
        step_id=message.step_id,
        attempt=message.attempt,
        outputs=message.outputs,
    )


@pytest.fixture
def sent(monkeypatch):
    """Step messages the engine sends, captured instead of going to a broker."""
    messages: list[dispatch.StepMessage] = []
    monkeypatch.setattr(dispatch, "send_all", lambda sends, countdown: messages.extend(sends))
    return messages


def test_a_pure_steps_duplicate_delivery_records_one_result(db, tenant, sent, django_capture_on_commit_callbacks):
    """Pure satellites skip the durable claim: a redelivered message may run them again, but
    only the first completion under the token is recorded, and the DAG advances once."""
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    first = sent.pop()
    assert first.step_id == "a" and first.attempt == 1
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(first, worker="w1")
        _deliver(first, worker="w2")  # the broker redelivered it
    step = run.steps.get(step_id="a")
    assert (step.status, step.attempts, step.worker) == ("succeeded", 1, "w1")
    assert [m.step_id for m in sent] == ["b"]  # b was queued exactly once
    lines = list(run.logs.filter(step_id="a").values_list("message", flat=True))
    assert lines[0] == "attempt 1 started on w1" and len(lines) == 2


def test_a_stale_token_of_a_pure_step_is_discarded(db, tenant, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    _deliver(sent.pop()._replace(task_id="stale-token"))
    step = run.steps.get(step_id="a")
    assert (step.status, step.attempts) == ("queued", 0) and not sent


def test_a_cancelled_runs_pure_step_result_is_discarded(db, tenant, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    message = sent.pop()
    with django_capture_on_commit_callbacks(execute=False):  # no broker here to revoke on
        services.run_cancel(run=run)
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(message)
    assert {s.step_id: s.status for s in run.steps.all()} == {"a": "cancelled", "b": "cancelled"}
    assert not sent


PASSING = """
name: passing
steps:
  - {id: a, satellite: echo, inputs: {message: "${{ inputs.text }}"}}
  - {id: b, satellite: echo, depends_on: [a], inputs: {message: "got ${{ steps.a.outputs.message }}"}}
  - {id: c, satellite: echo, depends_on: [b]}
inputs: {text: {type: string}}
"""


@pytest.mark.parametrize(("text", "carried"), [("hi", True), ("x" * 9000, False)])
def test_small_outputs_travel_in_the_dependents_message(
    db, tenant, sent, django_capture_on_commit_callbacks, text, carried
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, PASSING), inputs={"text": text})
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(sent.pop())
    message = sent.pop()
    assert message.step_id == "b"
    assert message.outputs == ({"a": {"message": text}} if carried else None)
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        _deliver(message)
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and '"output"' in q["sql"]]
    assert len(reads) == (0 if carried else 1)
    assert run.steps.get(step_id="b").output == {"message": f"got {text}"}


def test_only_satellites_without_side_effects_are_pure():
    from orchestration.satellites import all_satellites

    assert {s.name for s in all_satellites() if s.pure} == {"echo", "fail", "json.transform"}


def test_a_fan_in_finishes_the_run_once_every_branch_ended(db, tenant, sent, django_capture_on_commit_callbacks):
    definition = (
        "name: fan\nsteps:\n  - {id: start, satellite: echo}\n"
        + "".join(f"  - {{id: b{i}, satellite: echo, depends_on: [start]}}\n" for i in range(5))
        + "  - {id: join, satellite: echo, depends_on: [b0, b1, b2, b3, b4]}\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, definition), inputs={})
    delivered = []
    while sent:
        message = sent.pop(0)
        delivered.append(message.step_id)
        with django_capture_on_commit_callbacks(execute=True):
            _deliver(message)
        run.refresh_from_db()
        assert run.status == ("succeeded" if message.step_id == "join" else "running")
    assert delivered[0] == "start" and delivered[-1] == "join" and len(delivered) == 7


def test_the_reaper_times_out_orphaned_steps_and_fails_the_run(db, tenant):
    from orchestration.tasks import reap

    run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    step = run.steps.get(step_id="a")
    step_worker.step_claim(step_pk=step.pk, task_id=step.task_id)
    assert reap() == 0  # still within its deadline
    StepRun.objects.filter(pk=step.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert reap() == 1
    run.refresh_from_db()
    steps = {s.step_id: s.status for s in run.steps.all()}
    assert steps == {"a": "timed_out", "b": "skipped"}
    assert run.status == "timed_out" and "worker was lost" in run.error


def test_the_reaper_is_declared_in_the_beat_schedule():
    assert settings.CELERY_BEAT_SCHEDULE["orchestration-reap"]["task"] == "orchestration.reap"


def test_run_status_changes_are_pushed_to_the_tenants_live_channel(
    db, tenant, django_capture_on_commit_callbacks, settings
):
    # The engine's publishing, read straight off the channel layer; the embedded default's
    # outbox transport between processes is tested in tests/monitoring/test_live.py.
    settings.LIVE_OUTBOX = False
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(tenant_group(tenant.pk), channel)
    cluster = make_cluster(tenant, CHAIN)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.run_trigger(cluster=cluster, inputs={})
    # Publish only (the step messages are not sent: no worker in this test).
    for callback in callbacks:
        if getattr(callback, "func", None) is not dispatch.send_all:
            callback()
    message = async_to_sync(layer.receive)(channel)
    assert message["event"] == "run.status"
    assert message["data"]["id"] == str(run.pk) and message["data"]["status"] == "running"


def test_under_asgi_the_log_stream_is_asynchronous_and_ends_with_the_run(db, tenant, make_member):
    """Django buffers a *sync* iterator whole under ASGI, which would defeat following live."""
    from django.test import AsyncClient
    from rest_framework_simplejwt.tokens import AccessToken

    from tenants.policy import Role

    user = make_member(tenant, Role.VIEWER)
    run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    services.run_cancel(run=run)
    client = AsyncClient()
    headers = {
        "Authorization": f"Bearer {AccessToken.for_user(user)}",
        "X-Tenant": tenant.slug,
        "Accept": "text/event-stream",
    }

    async def read():
        response = await client.get(f"/api/v1/runs/{run.pk}/logs", headers=headers)
        assert response.status_code == 200, response.content
        assert response.is_async and response["Content-Type"].startswith("text/event-stream")
        return [chunk.decode() async for chunk in response.streaming_content]

    chunks = async_to_sync(read)()
    assert "event: log" in chunks[0] and "run cancelled" in "".join(chunks)
    assert chunks[-1].startswith("event: end") and '"status": "cancelled"' in chunks[-1]


def test_workers_keep_their_database_connection_between_tasks():
    """Celery's Django fixup would close it around every task; we recycle it like a request
    and skip the health check of a connection that finished a task a moment ago."""
    from celery import signals

    from config.celery import app, recycle_database_connections, skip_health_check_of_warm_connections

    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 10**6
    assert skip_health_check_of_warm_connections in [r() for _, r in signals.task_prerun.receivers]
    assert recycle_database_connections in [r() for _, r in signals.task_postrun.receivers]


def test_a_step_whose_message_was_lost_is_sent_again_with_the_same_token(
    db, tenant, sent, settings, django_capture_on_commit_callbacks
):
    """Broker down or process killed between commit and publish: the step sits `queued` with no
    message. The reaper re-sends it once it is ORCHESTRATION_RESEND_AFTER_SECONDS past due."""
    settings.ORCHESTRATION_RESEND_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    lost = sent.pop()  # never reaches a worker
    assert reaper.steps_resend() == 0  # not overdue yet
    later = timezone.now() + timedelta(seconds=61)
    with django_capture_on_commit_callbacks(execute=True):
        assert reaper.steps_resend(at=later) == 1
    again = sent.pop()
    assert (again.step_pk, again.task_id, again.attempt) == (lost.step_pk, lost.task_id, 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert reaper.steps_resend(at=later + timedelta(seconds=30)) == 0  # the clock restarted
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(again)
        _deliver(lost)  # the original turns up after all: discarded
    assert run.steps.get(step_id="a").attempts == 1
    assert [m.step_id for m in sent] == ["b"]


def test_a_retry_delay_counts_as_not_yet_due(db, tenant, sent, settings, django_capture_on_commit_callbacks):
    settings.ORCHESTRATION_RESEND_AFTER_SECONDS = 60
    definition = (
        "name: flaky\nsteps:\n  - id: f\n    satellite: fail\n"
        "    retries: {count: 1, backoff: fixed, delay_seconds: 300}\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, definition), inputs={})
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(sent.pop())
    step = run.steps.get(step_id="f")
    assert step.status == "queued" and step.queued_at > timezone.now() + timedelta(seconds=290)
    assert reaper.steps_resend(at=timezone.now() + timedelta(seconds=120)) == 0


AFTER_FAILURE = """
name: after-failure
steps:
  - {id: a, satellite: fail}
  - {id: b, satellite: echo, depends_on: [a], join: all_done}
"""


def test_the_reaper_releases_dependents_a_crash_left_unreleased(
    db, tenant, sent, monkeypatch, django_capture_on_commit_callbacks
):
    """The completion committed, then the worker died before releasing the dependents."""
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, AFTER_FAILURE), inputs={})
    first = sent.pop()

    def worker_dies(*args, **kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as patched:
        patched.setattr(completion, "_release_ready", worker_dies)
        with pytest.raises(SystemExit), django_capture_on_commit_callbacks(execute=True):
            _deliver(first)
    assert {s.step_id: s.status for s in run.steps.all()} == {"a": "failed", "b": "pending"}
    with django_capture_on_commit_callbacks(execute=True):
        assert reaper.runs_repair() == 1
    assert [m.step_id for m in sent] == ["b"]
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(sent.pop())
    run.refresh_from_db()
    assert run.status == "failed" and run.steps.get(step_id="b").status == "succeeded"
    assert reaper.runs_repair() == 0


def test_the_reaper_finishes_a_run_a_crash_left_unfinished(
    db, tenant, sent, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(sent.pop())
    with monkeypatch.context() as patched:
        patched.setattr(completion, "run_settle", lambda run_pk: (_ for _ in ()).throw(SystemExit("worker killed")))
        with pytest.raises(SystemExit), django_capture_on_commit_callbacks(execute=True):
            _deliver(sent.pop())
    run.refresh_from_db()
    assert run.status == "running" and {s.status for s in run.steps.all()} == {"succeeded"}
    with django_capture_on_commit_callbacks(execute=True):
        assert reaper.runs_repair() == 1
    run.refresh_from_db()
    assert run.status == "succeeded"


def _drain(sent, capture) -> None:
    """Deliver every sent message (and those they cause) in order."""
    while sent:
        message = sent.pop(0)
        with capture(execute=True):
            _deliver(message)


def test_retrying_a_run_leaves_the_counters_of_steps_that_already_ran_alone(
    db, tenant, sent, django_capture_on_commit_callbacks
):
    """U failed, D (all_done) ran anyway; a retry re-runs U only, and U ending again must not
    count D down a second time (its counter would go below zero)."""
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, AFTER_FAILURE), inputs={})
    _drain(sent, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == "failed" and run.steps.get(step_id="b").status == "succeeded"
    with django_capture_on_commit_callbacks(execute=True):
        services.run_retry(run=run)
    assert [m.step_id for m in sent] == ["a"]
    _drain(sent, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    b = run.steps.get(step_id="b")
    assert run.status == "failed" and (b.status, b.remaining_deps, b.attempts) == ("succeeded", 0, 1)


HANDLERS = """
name: handlers
steps:
  - {id: a, satellite: fail}
on_failure:
  - {id: h1, satellite: fail}
  - {id: h2, satellite: echo, depends_on: [h1]}
"""


def test_an_on_failure_step_keeps_its_join_rule_when_the_run_settles_first(
    db, tenant, sent, monkeypatch, django_capture_on_commit_callbacks
):
    """h1 failed; before its completion released h2, something settled the run: h2 (all_success
    after a failed h1) must be skipped, not run."""
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, HANDLERS), inputs={})
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(sent.pop())  # a fails: h1 is queued
    h1 = sent.pop()
    assert h1.step_id == "h1" and not sent
    with monkeypatch.context() as patched:
        patched.setattr(completion, "_release_ready", lambda *args: None)  # the race: not released yet
        with django_capture_on_commit_callbacks(execute=True):
            _deliver(h1)
    with django_capture_on_commit_callbacks(execute=True):
        completion.run_settle(run.pk)
    assert not sent
    run.refresh_from_db()
    assert {s.step_id: s.status for s in run.steps.all()} == {"a": "failed", "h1": "failed", "h2": "skipped"}
    assert run.status == "failed"


SLEEPY = (
    "name: sleepy\nsteps:\n  - {id: a, satellite: sleep, inputs: {seconds: 0}}\n"
    "  - {id: b, satellite: echo, depends_on: [a]}\n"
)


@pytest.fixture
def completions(monkeypatch):
    """The completion statements the engine runs (they still run), as (sql, in a transaction)."""
    from django.db import connection

    from orchestration import step_sql

    statements: list[tuple[str, bool]] = []
    real = step_sql._fetch_prepared

    def spy(sql, params):
        statements.append((sql, connection.in_atomic_block))
        return real(sql, params)

    monkeypatch.setattr(step_sql, "_fetch_prepared", spy)
    return statements


def _commit_mode() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"), reason="PostgreSQL's commit modes")
def test_only_a_pure_steps_completion_commits_asynchronously(transactional_db, tenant, sent, completions):
    """A pure step's outcome may be lost in a PostgreSQL crash (the reaper sends it again), so
    its statement alone skips the WAL flush; an impure step's completion stays durable, and
    the worker's session keeps synchronous commits for everything else."""
    run = services.run_trigger(cluster=make_cluster(tenant, SLEEPY), inputs={})
    _deliver(sent.pop())  # a: sleep, claimed durably before it runs
    _deliver(sent.pop())  # b: echo, pure
    assert [("synchronous_commit" in sql, in_block) for sql, in_block in completions] == [
        (False, False),
        (True, False),
    ]
    assert _commit_mode() == "on"
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert list(run.steps.order_by("position").values_list("status", "attempts")) == [("succeeded", 1)] * 2


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"), reason="PostgreSQL's commit modes")
def test_a_pure_completion_inside_a_transaction_leaves_its_commit_durable(
    db, tenant, sent, completions, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_trigger(cluster=make_cluster(tenant, CHAIN), inputs={})
    _deliver(sent.pop())  # inside the test's transaction
    assert _commit_mode() == "on"  # the enclosing transaction commits as it would have
    assert [("synchronous_commit" in sql, in_block) for sql, in_block in completions] == [(False, True)]
    assert run.steps.get(step_id="a").status == "succeeded"


def test_a_runs_steps_are_created_pending_with_the_models_defaults(db, tenant):
    definition = (
        "name: shape\nsteps:\n  - {id: a, satellite: echo}\n  - {id: b, satellite: echo, depends_on: [a]}\n"
        "  - {id: c, satellite: fail, depends_on: [a, b]}\n"
        "on_failure:\n  - {id: alert, satellite: echo}\n"
    )
    run = services.run_trigger(cluster=make_cluster(tenant, definition), inputs={})
    rows = list(
        run.steps.values_list(
            "step_id", "satellite", "position", "is_handler", "remaining_deps", "failed_deps", "attempts", "error"
        )
    )
    assert rows == [
        ("a", "echo", 0, False, 0, 0, 0, ""),
        ("b", "echo", 1, False, 1, 0, 0, ""),
        ("c", "fail", 2, False, 2, 0, 0, ""),
        ("alert", "echo", 3, True, 0, 0, 0, ""),
    ]
    statuses = dict(run.steps.values_list("step_id", "status"))
    assert statuses == {"a": "queued", "b": "pending", "c": "pending", "alert": "pending"}
    assert len(set(run.steps.values_list("pk", flat=True))) == 4
    assert set(run.steps.values_list("worker", "redeliveries", "output", "started_at")) == {("", 0, None, None)}
