"""Writes of the notifications app, and the one way the platform sends e-mail: `email_send`.

Every sender (accounts' verification and reset, tenants' invitations, monitoring's e-mail
alert channels, billing's notices) calls `email_send` from a worker. It picks the template
(the database row, else the file), asks the recipient's preference for the template's category
(`security` always goes), adds the signed one-click unsubscribe link and RFC 8058 headers to
every non-security e-mail, and logs the outcome as an `EmailNotification`.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from core.audit import audit_record
from notifications import rendering, selectors
from notifications.catalogue import KINDS
from notifications.models import (
    AddressOptOut,
    Category,
    EmailNotification,
    EmailTemplate,
    NotificationPreference,
)

UNSUBSCRIBE_SALT = "notifications.unsubscribe"


def public_url(path: str) -> str:
    """An absolute link into the product, built from `PUBLIC_BASE_URL`."""
    return f"{settings.PUBLIC_BASE_URL}/{path.lstrip('/')}"


# --- Preferences and unsubscribing ------------------------------------------------------------
@transaction.atomic
def notification_preferences_update(*, user, **changes: bool) -> dict:
    if changes.get(Category.SECURITY) is False:
        raise ValidationError({"security": ["Security e-mail is always sent; it cannot be turned off."]})
    changes.pop(Category.SECURITY, None)
    if changes:
        row, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        for category, value in changes.items():
            setattr(row, category, value)
        row.save()
        # Turning a category back on also forgets an unsubscribe the address made by link
        # before it had an account (or that the link recorded while it had none).
        turned_on = [category for category, value in changes.items() if value]
        AddressOptOut.objects.filter(address=user.email, category__in=turned_on).delete()
    return selectors.notification_preferences_get(user=user)


def unsubscribe_token(*, address: str, category: str) -> str:
    """Signed (SECRET_KEY), not encrypted; no expiry: a link in an old e-mail keeps working."""
    return signing.dumps({"to": selectors.normalized(address), "c": category}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_read(token: str) -> tuple[str, str] | None:
    """(address, category) of a genuine token; None when tampered with or not one of ours."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("c") not in NotificationPreference.CATEGORIES \
            or not isinstance(data.get("to"), str):
        return None
    return data["to"], data["c"]


@transaction.atomic
def unsubscribe(*, address: str, category: str) -> None:
    """The address gets no more mail of `category`: its account's preference is turned off, or,
    with no account, the address is remembered. Doing it twice changes nothing more."""
    user = get_user_model().objects.filter(email=address).first()
    if user is not None:
        row, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        if getattr(row, category):
            setattr(row, category, False)
            row.save()
            audit_record(action="notifications.unsubscribe", target=row, actor=user, changes={category: False})
    else:
        AddressOptOut.objects.get_or_create(address=address, category=category)


# --- Sending ----------------------------------------------------------------------------------
def _message(*, template: str, category: str, to: str, context: dict) -> EmailMultiAlternatives:
    headers, unsubscribe_url = {}, ""
    if category != Category.SECURITY:
        unsubscribe_url = public_url(f"notifications/unsubscribe/{unsubscribe_token(address=to, category=category)}")
        headers = {"List-Unsubscribe": f"<{unsubscribe_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    parts = rendering.compose(selectors.template_sources(template), context, category=category,
                              unsubscribe_url=unsubscribe_url)
    message = EmailMultiAlternatives(subject=parts["subject"], body=parts["text_body"],
                                     from_email=settings.DEFAULT_FROM_EMAIL, to=[to], headers=headers)
    message.attach_alternative(parts["html_body"], "text/html")
    return message


def _claim(*, template: str, category: str, to: str, key: str) -> EmailNotification | None:
    """The log row a keyed send owns, or None when a send of the same key and recipient has
    finished (sent or suppressed) or is under way. Only a failed one is claimed again."""
    try:
        with transaction.atomic():
            return EmailNotification.objects.create(template=template, category=category, to=to, key=key,
                                                    status=EmailNotification.Status.SENDING)
    except IntegrityError:
        claimed = EmailNotification.objects.filter(key=key, to=to, status=EmailNotification.Status.FAILED).update(
            status=EmailNotification.Status.SENDING, error="")
        return EmailNotification.objects.get(key=key, to=to) if claimed else None


def _log(row: EmailNotification | None, **fields) -> EmailNotification:
    if row is None:
        return EmailNotification.objects.create(**fields)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row


def email_send(*, template: str, to: str, context: dict, key: str = "") -> EmailNotification | None:
    """Send one e-mail (on a worker), unless the recipient opted out of its category; logged
    either way. A failure to send is logged and raised again, so the caller's task retries.

    With a `key` the e-mail goes at most once per key and recipient: a retried task or a
    repeated beat finds the first send's row, sends nothing and returns None. A
    worker lost in the middle of a send leaves its row `sending`, and the e-mail is not sent
    again: a missing notice is better than a doubled one about money."""
    category = KINDS[template].category
    row = None
    if key:
        row = _claim(template=template, category=category, to=to, key=key)
        if row is None:
            return None
    log = {"template": template, "category": category, "to": to, "key": key}
    if not selectors.wants_email(address=to, category=category):
        return _log(row, **log, status=EmailNotification.Status.SUPPRESSED)
    message = _message(template=template, category=category, to=to, context=context)
    try:
        message.send()
    except Exception as exc:  # SMTP trouble is an OSError; anything else is logged as well
        _log(row, **log, subject=message.subject[:255], status=EmailNotification.Status.FAILED,
             error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return _log(row, **log, subject=message.subject[:255], status=EmailNotification.Status.SENT,
                sent_at=timezone.now())


# --- Templates --------------------------------------------------------------------------------
def email_templates_seed() -> int:
    """Create the rows of catalogued templates that have none, from their files; existing rows
    (edited or not) are never overwritten. Returns how many were created."""
    existing = set(EmailTemplate.objects.values_list("name", flat=True))
    missing = [name for name in KINDS if name not in existing]
    EmailTemplate.objects.bulk_create(
        [EmailTemplate(name=name, **selectors.file_sources(name)) for name in missing], ignore_conflicts=True
    )
    return len(missing)


def email_templates_seed_after_migrate(sender, using=None, **kwargs) -> None:
    # Migrating back to before this app's tables exist must not fail here.
    if using == "default" and EmailTemplate._meta.db_table in connection.introspection.table_names():
        email_templates_seed()


@transaction.atomic
def email_template_update(*, template: EmailTemplate, actor=None, **sources: str) -> EmailTemplate:
    errors = rendering.syntax_errors(sources)
    if errors:
        raise ValidationError({part: [message] for part, message in errors.items()})
    changed = [part for part, value in sources.items() if getattr(template, part) != value]
    for part in changed:
        setattr(template, part, sources[part])
    if changed:
        template.updated_by = actor if getattr(actor, "pk", None) else None
        template.save()
        audit_record(action="email_template.update", target=template, actor=actor, changes={"parts": changed})
    return template


def email_template_reset(*, template: EmailTemplate, actor=None) -> EmailTemplate:
    """Back to the words of the file (a release's new wording, or undoing an edit)."""
    return email_template_update(template=template, actor=actor, **selectors.file_sources(template.name))
