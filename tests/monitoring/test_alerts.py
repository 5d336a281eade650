"""Alert deliveries: signed webhooks to a local receiver, retries, e-mail, reminders."""
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import OperationalError
from django.utils import timezone

from monitoring import alerts, services
from monitoring.models import AlertChannel, AlertDelivery, Incident, Status
from tests.monitoring.factories import IncidentFactory, NodeFactory
from tests.monitoring.servers import closed_port


def verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OperationalError:
            pass
        time.sleep(0.1)
    return False


@pytest.mark.worker
def test_an_incident_is_delivered_signed_to_a_webhook_retrying_after_a_failure(
    live_worker, tenant, operator, allow_private, server, settings
):
    settings.MONITORING_ALERT_RETRY_BASE_SECONDS = 0.2
    from tests.conftest import bearer_client

    client = bearer_client(operator, tenant)
    created = client.post(
        "/api/v1/alert-channels", {"name": "ops", "kind": "webhook", "url": server.url("/hook")}, format="json"
    ).json()
    secret = created["signing_secret"]
    server.post_statuses = [500]  # the receiver fails once, then accepts

    node = NodeFactory(tenant=tenant, port=closed_port(), status=Status.UP)
    client.post(f"/api/v1/nodes/{node.pk}/check")
    client.post(f"/api/v1/nodes/{node.pk}/check")  # second failure: down → incident → alert

    assert wait_for(lambda: AlertDelivery.objects.filter(state="delivered").exists())
    delivery = AlertDelivery.objects.get()
    assert [a["ok"] for a in delivery.attempts] == [False, True]
    assert delivery.attempts[0]["status"] == 500
    posts = [hit for hit in server.hits if hit[0] == "POST"]
    assert len(posts) == 2
    _method, path, headers, body = posts[-1]
    assert path == "/hook"
    assert headers["X-Groundstation-Event"] == "incident.opened"
    assert headers["X-Groundstation-Delivery"] == str(delivery.pk)
    assert verify(secret, headers["X-Groundstation-Signature"], body)
    assert not verify("whsec_wrong", headers["X-Groundstation-Signature"], body)
    payload = json.loads(body)
    assert payload["incident"]["node_id"] == str(node.pk)
    assert payload["incident"]["state"] == "open"

    deliveries = client.get(f"/api/v1/alert-channels/{created['id']}/deliveries").json()
    assert deliveries["results"][0]["state"] == "delivered"
    assert len(deliveries["results"][0]["attempts"]) == 2


@pytest.mark.django_db
def test_a_webhook_to_a_refused_address_fails_without_a_request(tenant, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    channel, _ = alerts.alert_channel_create(tenant=tenant, name="meta", kind="webhook",
                                            url="http://169.254.169.254/latest")
    incident = IncidentFactory(node=NodeFactory(tenant=tenant))
    [delivery] = alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.OPENED, channels=[channel])
    assert alerts.alert_delivery_attempt(delivery_id=delivery.pk) is False
    delivery.refresh_from_db()
    assert "link-local" in delivery.attempts[0]["error"]


@pytest.mark.django_db
def test_a_delivery_gives_up_after_the_last_attempt(tenant, allow_private):
    channel, _ = alerts.alert_channel_create(tenant=tenant, name="dead", kind="webhook",
                                            url=f"http://127.0.0.1:{closed_port()}/")
    incident = IncidentFactory(node=NodeFactory(tenant=tenant))
    [delivery] = alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.OPENED, channels=[channel])
    assert alerts.alert_delivery_attempt(delivery_id=delivery.pk) is False
    assert alerts.alert_delivery_attempt(delivery_id=delivery.pk) is None  # the retry is not due yet
    later = timezone.now()
    for _ in range(alerts.MAX_ATTEMPTS - 1):
        later += timedelta(days=1)
        assert alerts.alert_delivery_attempt(delivery_id=delivery.pk, now=later) is False
    delivery.refresh_from_db()
    assert delivery.state == AlertDelivery.State.FAILED
    assert len(delivery.attempts) == alerts.MAX_ATTEMPTS
    assert alerts.alert_delivery_attempt(delivery_id=delivery.pk, now=later) is None  # nothing left to do
    assert alerts.alert_deliveries_resend_due(now=later) == 0


def _webhook_delivery(tenant, server) -> AlertDelivery:
    channel, _ = alerts.alert_channel_create(tenant=tenant, name="hook", kind="webhook", url=server.url("/hook"))
    incident = IncidentFactory(node=NodeFactory(tenant=tenant))
    [delivery] = alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.OPENED, channels=[channel])
    return delivery


def _posts(server) -> list:
    return [hit for hit in server.hits if hit[0] == "POST"]


@pytest.mark.django_db(transaction=True)
def test_two_senders_of_one_delivery_send_it_once_and_record_it_once(tenant, allow_private, server):
    """A scheduled retry and the periodic re-send may run at the same moment."""
    import threading

    delivery = _webhook_delivery(tenant, server)
    server.post_delay = 0.5
    outcomes = []
    first = threading.Thread(target=lambda: outcomes.append(alerts.alert_delivery_attempt(delivery_id=delivery.pk)))
    first.start()
    assert wait_for(lambda: len(_posts(server)) == 1)
    outcomes.append(alerts.alert_delivery_attempt(delivery_id=delivery.pk))  # while the first is sending
    first.join(15)
    assert sorted(outcomes, key=str) == [None, True]
    delivery.refresh_from_db()
    assert delivery.state == AlertDelivery.State.DELIVERED
    assert len(delivery.attempts) == 1
    assert len(_posts(server)) == 1


@pytest.mark.worker
def test_a_delivery_whose_attempt_was_never_recorded_is_sent_again_by_the_periodic_task(
    live_worker, tenant, allow_private, server
):
    """The receiver got the webhook but recording the attempt failed (the worker died, or the
    database refused the write): the delivery is still pending with no attempt. Once the
    attempt's lease runs out the periodic task sends it again, and it is recorded once."""
    delivery = _webhook_delivery(tenant, server)
    lease = alerts._claim(delivery.pk, timezone.now())  # an attempt starts…
    assert alerts._send_webhook(delivery)[0] is True  # …the receiver has it, and nothing is recorded
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("pending", [], lease)
    assert alerts.alert_deliveries_resend_due() == 0  # the attempt may still be running

    # The lease runs out (moved rather than waited for: a wall-clock lease flakes on a busy machine).
    AlertDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert alerts.alert_deliveries_resend_due() == 1
    assert wait_for(lambda: AlertDelivery.objects.get(pk=delivery.pk).state == "delivered")
    delivery.refresh_from_db()
    assert [a["ok"] for a in delivery.attempts] == [True]
    posts = _posts(server)
    assert len(posts) == 2  # at least once: the receiver deduplicates on the delivery id
    assert {p[2]["X-Groundstation-Delivery"] for p in posts} == {str(delivery.pk)}
    assert alerts.alert_deliveries_resend_due() == 0


def test_the_periodic_resend_is_in_the_beat_schedule():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["monitoring-alert-resend"]["task"] == "monitoring.tasks.resend_due_alerts"


@pytest.mark.django_db
def test_email_channels_are_told_when_an_incident_opens_and_resolves(tenant, allow_private, server, settings,
                                                                    django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    alerts.alert_channel_create(tenant=tenant, name="oncall", kind="email", email="oncall@example.com")
    node = NodeFactory(tenant=tenant, port=closed_port(), status=Status.UP)
    from monitoring.checks import CheckResult

    def fail():
        return CheckResult(str(node.pk), timezone.now(), False, 1.0, error="connection refused")

    with django_capture_on_commit_callbacks(execute=False):  # deliver in-process below, not via the broker
        services.checks_record(results=[fail()])
        services.checks_record(results=[fail()])
        services.checks_record(results=[CheckResult(str(node.pk), timezone.now(), True, 5.0, 200)])
    for delivery in AlertDelivery.objects.order_by("created_at"):
        assert alerts.alert_delivery_attempt(delivery_id=delivery.pk) is True
    subjects = [m.subject for m in mail.outbox]
    assert subjects == [f"[Groundstation] OPEN: Node {node.name} is down",
                        f"[Groundstation] RESOLVED: Node {node.name} is down"]
    assert mail.outbox[0].to == ["oncall@example.com"]
    assert "connection refused" in mail.outbox[0].body


@pytest.mark.django_db
def test_reminders_repeat_for_open_unacknowledged_incidents_only(tenant, django_capture_on_commit_callbacks):
    channel, _ = alerts.alert_channel_create(tenant=tenant, name="nag", kind="email", email="a@example.com",
                                            remind_every_minutes=30)
    now = timezone.now()
    stale = IncidentFactory(node=NodeFactory(tenant=tenant), opened_at=now - timedelta(hours=1))
    acked = IncidentFactory(node=NodeFactory(tenant=tenant), opened_at=now - timedelta(hours=1), acknowledged_at=now)
    IncidentFactory(node=NodeFactory(tenant=tenant), opened_at=now - timedelta(minutes=5))  # too recent
    with django_capture_on_commit_callbacks(execute=False):
        assert alerts.alert_reminders_send(now=now) == 1
        assert alerts.alert_reminders_send(now=now + timedelta(minutes=10)) == 0  # not due again yet
    reminder = AlertDelivery.objects.get()
    assert (reminder.incident, reminder.event, reminder.channel) == (stale, "incident.reminder", channel)
    assert not AlertDelivery.objects.filter(incident=acked).exists()
    assert Incident.objects.get(pk=stale.pk).last_notified_at == now


@pytest.mark.django_db
def test_disabled_channels_are_not_notified(tenant):
    channel, _ = alerts.alert_channel_create(tenant=tenant, name="off", kind="email", email="a@example.com",
                                            enabled=False)
    incident = IncidentFactory(node=NodeFactory(tenant=tenant))
    assert alerts.alerts_enqueue(incident=incident, event=AlertDelivery.Event.OPENED) == []
    assert AlertChannel.objects.get(pk=channel.pk).deliveries.count() == 0
