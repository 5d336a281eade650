"""The e-mails the platform sends: each template's category and the sample context the admin's
preview renders it with. A sender names a template; its category comes from here, not from the
caller or the editable row, so no edit and no caller can make security mail stoppable."""
from dataclasses import dataclass, field

from notifications.models import Category


@dataclass(frozen=True)
class Kind:
    category: str
    description: str
    sample: dict = field(default_factory=dict)


_INVOICE = {"tenant_name": "Acme", "number": "GS-000042", "total": "29.50 EUR", "period": "2026-11-01 – 2026-12-01",
            "link": "https://groundstation.example/api/v1/billing/invoices/…"}

KINDS: dict[str, Kind] = {
    "verify_email": Kind(Category.SECURITY, "Confirm a new account's address",
                         {"name": "Ada", "link": "https://groundstation.example/auth/verify-email?token=…"}),
    "password_reset": Kind(Category.SECURITY, "Choose a new password",
                           {"name": "Ada", "link": "https://groundstation.example/auth/password/reset?token=…"}),
    "invitation": Kind(Category.INVITATIONS, "An invitation to a tenant",
                       {"inviter": "Ada", "tenant_name": "Acme", "role": "admin", "token": "…",
                        "link": "https://groundstation.example/invitations/accept?token=…",
                        "expires_at": "2026-12-09 10:00 UTC"}),
    "incident_alert": Kind(Category.INCIDENTS, "An incident opened, still open or resolved (e-mail alert channels)",
                           {"verb": "OPEN", "title": "node-1 down", "cause": "HTTP 503",
                            "opened_at": "2026-12-02T10:00Z", "resolved_at": "", "incident_id": "…"}),
    "invoice_finalized": Kind(Category.BILLING, "A period's invoice was finalised", _INVOICE),
    "payment_failed": Kind(Category.BILLING, "A payment of an invoice failed",
                           {**_INVOICE, "reason": "Your card was declined."}),
    "suspension_warning": Kind(Category.BILLING, "The tenant will be suspended for non-payment",
                               {**_INVOICE, "suspend_on": "2026-12-16"}),
}
