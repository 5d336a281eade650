"""Transactional e-mail: rendered from `templates/emails/<name>.{subject,txt,html}`.

Services enqueue a task with `transaction.on_commit`, so no mail points at a rolled-back row.
Tasks carry only ids: the worker rebuilds the link (and its token) from the row, because
task arguments end up in broker messages and worker logs, where secrets must never be.
"""
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
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

