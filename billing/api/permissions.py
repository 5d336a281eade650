"""Permissions of the billing API: the policy table decides (via `TenantScopedViewSet`):
reading is `Action.READ`, changing the plan or cancelling is `Action.MANAGE_BILLING`.
Stripe's webhook is authenticated by its signature instead (billing/webhooks.py)."""
from rest_framework.permissions import AllowAny

from tenants.policy import Action

SUBSCRIPTION_POLICY = {"retrieve": Action.READ, "update": Action.MANAGE_BILLING,
                       "destroy": Action.MANAGE_BILLING}


class StripeSignature(AllowAny):
    """No credential: the view verifies Stripe's signature before it stores anything."""
