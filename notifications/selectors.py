"""Reads of the notifications app: preferences, who wants what, a template's current words."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import get_template

from notifications import rendering
from notifications.catalogue import KINDS
from notifications.models import TEMPLATE_PARTS, AddressOptOut, Category, EmailTemplate, NotificationPreference


def normalized(address: str) -> str:
    """The address as accounts stores it (the user model's manager owns the rule)."""
    return get_user_model().objects.normalize_email(address.strip())


def notification_preferences_get(*, user) -> dict:
    row = NotificationPreference.objects.filter(user=user).first()
    return {Category.SECURITY.value: True,
            **{category: getattr(row, category, True) for category in NotificationPreference.CATEGORIES}}


def wants_email(*, address: str, category: str) -> bool:
    """Whether mail of `category` may go to `address`: security always; otherwise unless the
    address's account turned the category off, or the address unsubscribed without an account."""
    if category == Category.SECURITY:
        return True
    address = normalized(address)
    if AddressOptOut.objects.filter(address=address, category=category).exists():
        return False
    user = get_user_model().objects.filter(email=address).first()
    return user is None or notification_preferences_get(user=user)[category]


def file_sources(name: str) -> dict[str, str]:
    """The template's words as shipped in `templates/emails/<name>.{subject,txt,html}`."""
    return {part: get_template(f"emails/{name}.{suffix}").template.source for part, suffix in TEMPLATE_PARTS}


def template_sources(name: str) -> dict[str, str]:
    """The words the next e-mail uses: the database row if there is one, else the files."""
    row = EmailTemplate.objects.filter(name=name).first()
    if row is None:
        return file_sources(name)
    return {part: getattr(row, part) for part, _ in TEMPLATE_PARTS}


def email_template_preview(*, template: EmailTemplate) -> dict[str, str]:
    """The template as saved, rendered with its catalogue sample (the admin's preview)."""
    kind = KINDS.get(template.name)
    category = kind.category if kind else ""
    sample_link = f"{settings.PUBLIC_BASE_URL}/notifications/unsubscribe/sample"
    unsubscribe_url = "" if category == Category.SECURITY else sample_link
    return rendering.compose({part: getattr(template, part) for part, _ in TEMPLATE_PARTS},
                             kind.sample if kind else {}, category=category, unsubscribe_url=unsubscribe_url)
