"""E-mail to people: their preferences, the templates staff edit, and the log of every e-mail.

This app sits below `accounts` (README, "What may import what"): accounts sends its own mail
(verification, password reset) through it, and so does every floor above. It reaches people
only through `settings.AUTH_USER_MODEL`, as `core`'s audit log does.
"""
from django.conf import settings
from django.db import models


class Category(models.TextChoices):
    """What an e-mail is about; a person may turn off every category but `security`."""

    SECURITY = "security"  # verification, password reset, sign-in alerts: always sent
    INVITATIONS = "invitations"
    INCIDENTS = "incidents"
    BILLING = "billing"
    PRODUCT = "product"


OPTIONAL_CATEGORIES = tuple(c.value for c in Category if c != Category.SECURITY)

# A template's parts: (EmailTemplate field, file suffix under templates/emails/).
TEMPLATE_PARTS = (("subject", "subject"), ("text_body", "txt"), ("html_body", "html"))


class NotificationPreference(models.Model):
    """Which e-mail a person wants, by category. Security mail has no column: it is always sent.
    A missing row means every category on. (Moved here from `accounts` with its table.)"""

    CATEGORIES = OPTIONAL_CATEGORIES

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="notification_preference")
    invitations = models.BooleanField(default=True)
    incidents = models.BooleanField(default=True)
    billing = models.BooleanField(default=True)
    product = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "accounts_notificationpreference"

    def __str__(self) -> str:
        return f"notifications of {self.user_id}"


class AddressOptOut(models.Model):
    """An unsubscribe by an address that has no account (an invitee, an alert channel's inbox):
    there is no preference row to turn off, so the address itself is remembered."""

    address = models.EmailField(max_length=254)
    category = models.CharField(max_length=16, choices=[(c, c) for c in OPTIONAL_CATEGORIES])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["address", "category"], name="notifications_optout_unique")]

    def __str__(self) -> str:
        return f"{self.address} opted out of {self.category}"


class EmailTemplate(models.Model):
    """A template staff may edit in the admin; seeded from `templates/emails/<name>.*`. The
    catalogue (notifications/catalogue.py) says which names exist and their category, so an
    edit can change the words but never make a security e-mail stoppable."""

    name = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=255, help_text="Django template syntax, one line.")
    text_body = models.TextField(help_text="The plain-text part (Django template syntax).")
    html_body = models.TextField(help_text="The HTML part (Django template syntax; variables are escaped).")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EmailNotification(models.Model):
    """One row per e-mail the platform sent, failed to send, or did not send by preference.

    A sender that must never send the same e-mail twice (billing's notices, sent from tasks
    that retry and beats that repeat) gives it a `key`: one row per (key, recipient), claimed
    before the send, so a second send of that key finds the row and sends nothing."""

    class Status(models.TextChoices):
        SENDING = "sending"  # claimed by a keyed send that has not finished (a lost worker leaves it)
        SENT = "sent"
        FAILED = "failed"
        SUPPRESSED = "suppressed"  # the recipient turned the category off

    id = models.BigAutoField(primary_key=True)
    template = models.CharField(max_length=64)
    category = models.CharField(max_length=16, choices=Category.choices)
    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255, blank=True)
    key = models.CharField(max_length=200, blank=True, help_text="What the e-mail is about, e.g. "
                           "invoice_finalized:<invoice id>; sent at most once per key and recipient.")
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["key", "to"], condition=~models.Q(key=""), name="notifications_log_once"),
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="notifications_log_recent"),
            # Support's question: what did we send this person?
            models.Index(fields=["to", "-created_at"], name="notifications_log_to"),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.status})"
