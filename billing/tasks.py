"""Thin Celery wrappers over the billing services (periodic ones in settings.CELERY_BEAT_SCHEDULE)."""
from celery import shared_task
from django.db import OperationalError

from billing import notices, services, stripe_sync, webhooks

# Stripe calls retry on network trouble with backoff; the creates carry idempotency keys.
STRIPE_RETRYING = {"ignore_result": True, "max_retries": 5, "retry_backoff": True, "retry_jitter": True}


@shared_task(name="billing.close_periods", ignore_result=True, autoretry_for=(OperationalError,),
             retry_backoff=True, max_retries=3)
def close_periods() -> int:
    return services.periods_close_due()


@shared_task(name="billing.suspend_overdue", ignore_result=True)
def suspend_overdue() -> int:
    """Dunning's hourly tick: warn those whose suspension is near, suspend those past the grace."""
    services.subscriptions_warn_before_suspension()
    return services.subscriptions_suspend_overdue()


# Billing e-mails: ids in, the notice reloads; SMTP trouble retries, and the keyed log makes a
# retry send only what did not go out.
MAIL_RETRYING = {"ignore_result": True, "max_retries": 5, "autoretry_for": (OSError, OperationalError),
                 "retry_backoff": True, "retry_jitter": True}


@shared_task(name="billing.send_invoice_finalized", **MAIL_RETRYING)
def send_invoice_finalized(invoice_id: str) -> int:
    return notices.invoice_finalized_notify(invoice_id=invoice_id)


@shared_task(name="billing.send_payment_failed", **MAIL_RETRYING)
def send_payment_failed(payment_id: str) -> int:
    return notices.payment_failed_notify(payment_id=payment_id)


@shared_task(name="billing.send_suspension_warning", **MAIL_RETRYING)
def send_suspension_warning(subscription_id: str) -> int:
    return notices.suspension_warning_notify(subscription_id=subscription_id)


@shared_task(name="billing.stripe_subscription_sync", autoretry_for=(OSError, OperationalError,
                                                                      stripe_sync.stripe.APIConnectionError),
             **STRIPE_RETRYING)
def stripe_subscription_sync(subscription_id: str) -> None:
    stripe_sync.subscription_sync(subscription_id)


@shared_task(name="billing.stripe_invoice_push", autoretry_for=(OSError, OperationalError,
                                                                 stripe_sync.stripe.APIConnectionError),
             **STRIPE_RETRYING)
def stripe_invoice_push(invoice_id: str) -> None:
    stripe_sync.invoice_push(invoice_id)


@shared_task(name="billing.webhook_process", ignore_result=True, autoretry_for=(OperationalError,),
             retry_backoff=True, max_retries=5)
def webhook_process(event_pk: int) -> str:
    return webhooks.webhook_process(event_pk=event_pk)


@shared_task(name="billing.webhooks_retry", ignore_result=True)
def webhooks_retry() -> int:
    return webhooks.webhooks_retry()
