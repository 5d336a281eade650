"""Stripe's webhook events: verified and stored once by the view, acted on here, on a worker.

`webhook_receive` is all the request does (verify, store, enqueue), so Stripe always gets its
2xx quickly. `webhook_process` claims a stored event with a conditional update and acts on it
once; events about objects Groundstation does not know (another system's customer, a deleted
one) are acknowledged as `ignored`, never an error (dj-stripe's customer.deleted → 500).
"""
from __future__ import annotations

import json
import logging
import uuid

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing import services
from billing.models import Invoice, Subscription, WebhookEvent

logger = logging.getLogger("groundstation.billing")


class BadSignature(Exception):
    """The payload is not a Stripe event signed with our secret (or is too old)."""


def webhook_receive(*, payload: bytes, signature: str) -> tuple[WebhookEvent, bool]:
    """Verify and store; returns the event and whether it was new (a replay stores nothing)."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise BadSignature("Not JSON.") from exc
    # Checked before the library sees it: its event builder fails on a signed non-object.
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise BadSignature("Not a Stripe event.")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadSignature(str(exc)) from exc
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(stripe_id=event.id, type=body["type"][:100], payload=body)
            _enqueue_processing(stored.pk)
        return stored, True
    except IntegrityError:  # a replay (or the same event delivered twice at once)
        return WebhookEvent.objects.get(stripe_id=event.id), False


def _enqueue_processing(event_pk: int) -> None:
    from billing import tasks

    transaction.on_commit(lambda: tasks.webhook_process.delay(event_pk))


def _object(event: WebhookEvent) -> dict:
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def _local_invoice(obj: dict) -> Invoice | None:
    """Our invoice behind a Stripe invoice: by its id, else by the metadata we pushed it with."""
    stripe_id = obj.get("id")
    invoice = Invoice.objects.filter(stripe_invoice_id=stripe_id).first() if isinstance(stripe_id, str) else None
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    if invoice is None and metadata.get("groundstation_invoice"):
        try:
            invoice_id = uuid.UUID(str(metadata["groundstation_invoice"]))
        except ValueError:  # not a UUID: not ours
            return None
        invoice = Invoice.objects.filter(pk=invoice_id).first()
    return invoice


def _amount(obj: dict, *keys: str) -> int:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, int) and value >= 0:
            return value
    return 0


def _on_invoice_paid(event: WebhookEvent) -> bool:
    obj = _object(event)
    invoice = _local_invoice(obj)
    if invoice is None:
        return False
    services.invoice_record_payment(
        invoice=invoice, amount_cents=_amount(obj, "amount_paid", "total") or invoice.total_cents,
        currency=str(obj.get("currency") or invoice.currency)[:3], stripe_event_id=event.stripe_id,
    )
    return True


def _on_invoice_failed(event: WebhookEvent) -> bool:
    obj = _object(event)
    invoice = _local_invoice(obj)
    if invoice is None:
        return False
    error = obj.get("last_payment_error") or obj.get("last_finalization_error") or {}
    services.invoice_record_failure(
        invoice=invoice, amount_cents=_amount(obj, "amount_due", "total") or invoice.total_cents,
        currency=str(obj.get("currency") or invoice.currency)[:3], stripe_event_id=event.stripe_id,
        message=str(error.get("message", "")) if isinstance(error, dict) else "",
    )
    return True


def _on_customer_deleted(event: WebhookEvent) -> bool:
    customer_id = _object(event).get("id")
    if not isinstance(customer_id, str):
        return False
    # Forget the link; the next sync creates a new customer.
    return bool(Subscription.objects.filter(stripe_customer_id=customer_id).update(
        stripe_customer_id="", stripe_subscription_id="", stripe_plan_id=""
    ))


def _on_subscription_deleted(event: WebhookEvent) -> bool:
    subscription_id = _object(event).get("id")
    if not isinstance(subscription_id, str):
        return False
    return bool(Subscription.objects.filter(stripe_subscription_id=subscription_id).update(
        stripe_subscription_id="", stripe_plan_id=""
    ))


HANDLERS = {
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_succeeded": _on_invoice_paid,
    "invoice.payment_failed": _on_invoice_failed,
    "customer.deleted": _on_customer_deleted,
    "customer.subscription.deleted": _on_subscription_deleted,
}


def webhook_process(*, event_pk: int, force: bool = False) -> str:
    """Act on one stored event, once. `force` (the admin's "reprocess") runs a processed event
    again; its handlers are idempotent (a payment is unique per event id)."""
    claimable = list(WebhookEvent.Status) if force else [WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED]
    try:
        with transaction.atomic():
            # The claim: the row stays locked until this commits, so a second worker finds the
            # event processed and does nothing; a crash rolls the claim back with the work.
            claimed = WebhookEvent.objects.filter(pk=event_pk, status__in=claimable).update(
                status=WebhookEvent.Status.PROCESSED, attempts=F("attempts") + 1, processed_at=timezone.now(),
                error="",
            )
            if not claimed:
                return "skipped"
            event = WebhookEvent.objects.get(pk=event_pk)
            handler = HANDLERS.get(event.type)
            try:
                with transaction.atomic():
                    acted = handler(event) if handler else False
            except IntegrityError:  # this event's payment exists: it was acted on before
                acted = True
            if not acted:
                WebhookEvent.objects.filter(pk=event_pk).update(status=WebhookEvent.Status.IGNORED)
                return WebhookEvent.Status.IGNORED
            return WebhookEvent.Status.PROCESSED
    except Exception as exc:  # recorded for the operator; the retry beat tries again
        logger.exception("stripe event failed", extra={"event_pk": event_pk})
        WebhookEvent.objects.filter(pk=event_pk).update(
            status=WebhookEvent.Status.FAILED, attempts=F("attempts") + 1, error=repr(exc)[:2000]
        )
        return WebhookEvent.Status.FAILED


def webhooks_retry(*, older_than_seconds: int = 60, max_attempts: int = 5) -> int:
    """Events left pending (a lost task) or failed: processed again, a few times at most."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    due = WebhookEvent.objects.filter(
        status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED], received_at__lte=cutoff,
        attempts__lt=max_attempts,
    ).values_list("pk", flat=True)[:500]
    return sum(1 for pk in due if webhook_process(event_pk=pk) == WebhookEvent.Status.PROCESSED)
