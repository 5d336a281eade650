"""Alert channels and their deliveries: signed webhooks and e-mail, retried with backoff.

A webhook's signing secret is never stored: it is HMAC(pepper, channel id + salt), shown once
when the channel is created or its secret rotated. Receivers verify
`X-Groundstation-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

Each attempt claims its delivery first (a lease on `next_attempt_at`), sends outside any
transaction, then records its outcome under that claim; so concurrent senders (a retry and the
periodic re-send) never both send, and each attempt is recorded once. A claim whose outcome
could not be recorded expires and `alert_deliveries_resend_due` sends again: receivers may see
a delivery twice and should deduplicate on `X-Groundstation-Delivery` (docs/monitoring.md).
"""
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from core import outbound
from core.audit import audit_record
from core.db import save_existing
from monitoring.models import AlertChannel, AlertDelivery, Incident
from notifications.models import EmailNotification
from notifications.services import email_send
from tenants.models import Tenant

logger = logging.getLogger("groundstation.monitoring.alerts")

SIGNATURE_HEADER = "X-Groundstation-Signature"
MAX_ATTEMPTS = 5
WEBHOOK_TIMEOUT_SECONDS = 10.0
# How long an attempt holds its delivery: the webhook's timeout plus recording the outcome.
ATTEMPT_LEASE_SECONDS = 60.0
# Recording an outcome is retried on a locked or unavailable database before it is given up to
# the lease (and a re-send): the receiver already has the message.
RECORD_TRIES = 5


def signing_secret(channel: AlertChannel) -> str:
    raw = hmac.new(
        settings.CREDENTIAL_PEPPER.encode(), f"alert-channel:{channel.pk}:{channel.signing_salt}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"whsec_{raw}"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def retry_delay(attempt: int) -> float:
    """Exponential backoff after the n-th failed attempt (1-based)."""
    return settings.MONITORING_ALERT_RETRY_BASE_SECONDS * (2 ** (attempt - 1))


# --- Channels -------------------------------------------------------------------------------
@transaction.atomic
def alert_channel_create(*, tenant: Tenant, actor=None, **fields) -> tuple[AlertChannel, str | None]:
    """Returns the channel and, for webhooks, its signing secret (shown once)."""
    channel = AlertChannel.objects.create(
        tenant=tenant, signing_salt=secrets.token_hex(16), created_by=actor if getattr(actor, "pk", None) else None,
        **fields,
    )
    audit_record(action="alert_channel.create", target=channel, actor=actor, tenant=tenant,
                 changes={"name": channel.name, "kind": channel.kind})
    return channel, signing_secret(channel) if channel.kind == AlertChannel.Kind.WEBHOOK else None


@transaction.atomic
def alert_channel_update(*, channel: AlertChannel, actor=None, **fields) -> AlertChannel:
    for name, value in fields.items():
        setattr(channel, name, value)
    save_existing(channel)
    audit_record(action="alert_channel.update", target=channel, actor=actor, tenant=channel.tenant,
                 changes={k: v for k, v in fields.items() if k != "url"})
    return channel


@transaction.atomic
def alert_channel_rotate_secret(*, channel: AlertChannel, actor=None) -> str:
    channel.signing_salt = secrets.token_hex(16)
    save_existing(channel, update_fields=["signing_salt", "updated_at"])
    audit_record(action="alert_channel.rotate_secret", target=channel, actor=actor, tenant=channel.tenant)
    return signing_secret(channel)


@transaction.atomic
def alert_channel_delete(*, channel: AlertChannel, actor=None) -> None:
    audit_record(action="alert_channel.delete", target=channel, actor=actor, tenant=channel.tenant,
                 changes={"name": channel.name})
    channel.delete()


# --- Deliveries -----------------------------------------------------------------------------
def alerts_enqueue(*, incident: Incident, event: str, channels=None) -> list[AlertDelivery]:
    """One delivery per enabled channel of the tenant; sent by the worker after commit."""
    return alerts_enqueue_many(incidents=[incident], event=event, channels=channels)


def alerts_enqueue_many(*, incidents: list[Incident], event: str, channels=None) -> list[AlertDelivery]:
    """`alerts_enqueue` for a batch of incidents (a check batch that opened many): one query
    for the channels of their tenants and one INSERT for all deliveries."""
    from monitoring.tasks import deliver_alert  # tasks import services; avoid the cycle

    if not incidents:
        return []
    if channels is None:
        by_tenant: dict = {}
        for channel in AlertChannel.objects.filter(tenant_id__in={i.tenant_id for i in incidents}, enabled=True):
            by_tenant.setdefault(channel.tenant_id, []).append(channel)
    now = timezone.now()
    deliveries = AlertDelivery.objects.bulk_create(
        [
            AlertDelivery(tenant_id=incident.tenant_id, channel=c, incident=incident, event=event, next_attempt_at=now)
            for incident in incidents
            for c in (channels if channels is not None else by_tenant.get(incident.tenant_id, ()))
        ]
    )
    for delivery in deliveries:
        transaction.on_commit(lambda pk=str(delivery.pk): deliver_alert.delay(pk))
    return deliveries


def payload(delivery: AlertDelivery) -> dict:
    incident = delivery.incident
    return {
        "id": str(delivery.pk),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "tenant": incident.tenant.slug,
        "incident": {
            "id": str(incident.pk),
            "title": incident.title,
            "cause": incident.cause,
            "state": incident.state,
            "subject": incident.subject,
            "node_id": str(incident.node_id) if incident.node_id else None,
            "group_id": str(incident.group_id) if incident.group_id else None,
            "opened_at": incident.opened_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            "acknowledged_at": incident.acknowledged_at.isoformat() if incident.acknowledged_at else None,
        },
    }


def _send_webhook(delivery: AlertDelivery) -> tuple[bool, int | None, str]:
    body = json.dumps(payload(delivery), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Groundstation-Event": delivery.event,
        "X-Groundstation-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(signing_secret(delivery.channel), body, int(time.time())),
    }
    try:
        response = outbound.request_sync(
            "POST", delivery.channel.url, headers=headers, content=body, timeout=WEBHOOK_TIMEOUT_SECONDS,
            max_bytes=4096, follow_redirects=0,
        )
    except (outbound.OutboundBlocked, outbound.OutboundError) as exc:
        return False, None, str(exc)[:300]
    ok = 200 <= response.status < 300
    return ok, response.status, "" if ok else f"HTTP {response.status}"


def _send_email(delivery: AlertDelivery) -> tuple[bool, int | None, str]:
    """Through the notifications sender (template `incident_alert`, category `incidents`): the
    address may have unsubscribed, which counts as delivered — the channel's owner chose so."""
    data = payload(delivery)["incident"]
    verb = {"incident.opened": "OPEN", "incident.resolved": "RESOLVED"}.get(delivery.event, "STILL OPEN")
    context = {"verb": verb, "title": data["title"], "cause": data["cause"], "opened_at": data["opened_at"],
               "resolved_at": data["resolved_at"] or "", "incident_id": data["id"]}
    try:
        sent = email_send(template="incident_alert", to=delivery.channel.email, context=context)
    except OSError as exc:  # SMTP errors are OSErrors (smtplib.SMTPException included)
        return False, None, f"{type(exc).__name__}: {exc}"[:300]
    if sent.status == EmailNotification.Status.SUPPRESSED:
        return True, None, "not sent: the address unsubscribed from incident e-mail"
    return True, None, ""


def _claim(delivery_id, now: datetime) -> datetime | None:
    """Take the delivery for one attempt if it is pending and due; returns the lease's end,
    which is also the claim's token (a later claim moves it)."""
    lease = now + timedelta(seconds=ATTEMPT_LEASE_SECONDS)
    claimed = AlertDelivery.objects.filter(
        pk=delivery_id, state=AlertDelivery.State.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease)
    return lease if claimed else None


def alert_delivery_attempt(*, delivery_id: str, now: datetime | None = None) -> bool | None:
    """Make one attempt; True delivered, False failed (caller retries), None nothing to do
    (delivered, given up, not due yet, or another sender holds it)."""
    lease = _claim(delivery_id, now or timezone.now())
    if lease is None:
        return None
    delivery = AlertDelivery.objects.select_related("channel", "incident", "incident__tenant").get(pk=delivery_id)
    started = time.perf_counter()
    sender = _send_webhook if delivery.channel.kind == AlertChannel.Kind.WEBHOOK else _send_email
    ok, status, error = sender(delivery)
    attempt = {
        "at": timezone.now().isoformat(),
        "ok": ok,
        "status": status,
        "error": error,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    for tries_left in range(RECORD_TRIES - 1, -1, -1):
        try:
            _record_attempt(delivery_id=delivery_id, lease=lease, attempt=attempt)
            break
        except OperationalError:
            if not tries_left:
                raise  # the task fails loudly; the lease expires and the re-send sweep sends again
            logger.warning("recording an alert delivery attempt failed; retrying", extra={"delivery": delivery_id})
            time.sleep(0.25 * (RECORD_TRIES - tries_left))
    return ok


def _record_attempt(*, delivery_id: str, lease: datetime, attempt: dict) -> None:
    with transaction.atomic():
        delivery = (
            AlertDelivery.objects.select_for_update()
            .filter(pk=delivery_id, state=AlertDelivery.State.PENDING, next_attempt_at=lease)
            .first()
        )
        if delivery is None:  # our lease ran out and another attempt took over: it records
            return
        delivery.attempts = [*delivery.attempts, attempt]
        if attempt["ok"]:
            delivery.state, delivery.delivered_at = AlertDelivery.State.DELIVERED, timezone.now()
            delivery.next_attempt_at = None
        elif len(delivery.attempts) >= MAX_ATTEMPTS:
            delivery.state, delivery.next_attempt_at = AlertDelivery.State.FAILED, None
        else:
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay(len(delivery.attempts)))
        delivery.save(update_fields=["attempts", "state", "delivered_at", "next_attempt_at"])


def seconds_until_next_attempt(*, delivery_id: str) -> float | None:
    """For the task's retry countdown: None once the delivery no longer waits for one."""
    due = (
        AlertDelivery.objects.filter(pk=delivery_id, state=AlertDelivery.State.PENDING)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if due is None else max(0.0, (due - timezone.now()).total_seconds())


def alert_deliveries_resend_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Periodic: send again every pending delivery whose attempt is due but was not made (its
    message was lost, its worker died, or recording its outcome failed). The claim makes a
    duplicate of a scheduled retry harmless."""
    from monitoring.tasks import deliver_alert  # tasks import this module

    due = AlertDelivery.objects.filter(state=AlertDelivery.State.PENDING, next_attempt_at__lte=now or timezone.now())
    ids = [str(pk) for pk in due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit]]
    for delivery_id in ids:
        deliver_alert.delay(delivery_id)
    return len(ids)


def alert_reminders_send(*, now: datetime | None = None) -> int:
    """Remind channels that asked for it about open incidents nobody has acknowledged."""
    now = now or timezone.now()
    sent = 0
    channels = AlertChannel.objects.filter(enabled=True, remind_every_minutes__isnull=False)
    for channel in channels:
        incidents = Incident.objects.filter(
            tenant_id=channel.tenant_id, state=Incident.State.OPEN, acknowledged_at__isnull=True
        )
        for incident in incidents:
            last = channel.deliveries.filter(incident=incident).order_by("-created_at").first()
            since = last.created_at if last else incident.opened_at
            if now - since >= timedelta(minutes=channel.remind_every_minutes):
                with transaction.atomic():
                    alerts_enqueue(incident=incident, event=AlertDelivery.Event.REMINDER, channels=[channel])
                    Incident.objects.filter(pk=incident.pk).update(last_notified_at=now)
                sent += 1
    return sent
