"""Transactional e-mail: rendered from `templates/emails/<name>.{subject,txt,html}`.

Senders call `email_enqueue`, which hands the message to Celery only after the surrounding
transaction commits, so no mail ever points at a row that was rolled back.
"""
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string


def public_url(path: str) -> str:
    """An absolute link into the product, built from `PUBLIC_BASE_URL`."""
    return f"{settings.PUBLIC_BASE_URL}/{path.lstrip('/')}"


def email_send(*, template: str, to: str, context: dict) -> None:
    context = {"product": "Groundstation", "base_url": settings.PUBLIC_BASE_URL, **context}
    subject = render_to_string(f"emails/{template}.subject", context).strip().replace("\n", " ")
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()


def email_enqueue(*, template: str, to: str, context: dict) -> None:
    from accounts.tasks import send_email

    transaction.on_commit(lambda: send_email.delay(template=template, to=to, context=context))
