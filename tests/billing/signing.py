"""Stripe's webhook signature scheme (`t=…,v1=HMAC-SHA256(secret, "t.payload")`), as Stripe signs."""
import json
import time

from stripe import WebhookSignature

SECRET = "whsec_test_groundstation_billing"


def signed(event: dict, *, secret: str = SECRET, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event)
    timestamp = int(at if at is not None else time.time())
    signature = WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return payload.encode(), f"t={timestamp},v1={signature}"


def post_event(client, event: dict, **options):
    payload, header = signed(event, **options)
    return client.post("/api/v1/billing/webhooks/stripe", payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=header)
