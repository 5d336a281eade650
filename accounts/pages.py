"""Browser pages for the links in e-mails: verify an address, choose a new password.

A GET only shows a page, so a mail scanner that prefetches the link consumes nothing; the change
happens on the page's CSRF-protected POST, through the same services as the API. Pages look like
the admin (templates/pages/). The invitation page is `tenants/pages.py`.
"""
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import authenticate, login, password_validation
from django.shortcuts import render
from django.urls import re_path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from rest_framework.exceptions import APIException, ValidationError

from accounts import ratelimits, services, tokens


def page(request, template: str, context: dict, status: int = 200):
    """Render a page of templates/pages/ inside the admin's frame (header, styles)."""
    return render(request, f"pages/{template}", {**admin.site.each_context(request), **context}, status=status)


def error_messages(exc: APIException) -> list[str]:
    """The human sentences of a service's refusal (field names are the API's, not the page's)."""
    detail = exc.detail
    if isinstance(detail, dict):
        return [str(message) for messages in detail.values() for message in (messages if isinstance(
            messages, list) else [messages])]
    if isinstance(detail, list):
        return [str(message) for message in detail]
    return [str(detail)]


def limited(request, *, email: str | None = None, action: str = "login") -> list[str]:
    """The API's brute-force budgets apply to the pages' forms too; [] when within them."""
    try:
        ratelimits.limit_ip(request)
        if email is not None:
            ratelimits.limit_email(request, action=action, email=email)
    except APIException as exc:
        return error_messages(exc)
    return []


def session_sign_in(request, *, email: str, password: str) -> list[str]:
    """Sign in with a session (pages only; the API uses JWTs); [] on success, else why not.
    The caller has applied `limited(request, email=…)`."""
    user = authenticate(request, username=(email or "").strip().lower(), password=password)
    if user is None:
        return [services.INVALID_LOGIN]
    if settings.REQUIRE_EMAIL_VERIFICATION and not user.is_email_verified:
        return ["Confirm your e-mail address first: open the link in the e-mail we sent you."]
    login(request, user)
    return []


@never_cache
@csrf_protect
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def verify_email(request):
    token = request.POST.get("token") if request.method == "POST" else request.GET.get("token")
    token = (token or "").strip()
    user = tokens.read_verification_token(token) if token else None
    if user is None:
        return page(request, "verify_email.html", {"title": "Confirm your e-mail address", "invalid": True}, 400)
    context = {"title": "Confirm your e-mail address", "token": token, "email": user.email,
               "already": user.is_email_verified}
    if request.method == "POST":
        refusal = limited(request)
        if refusal:
            return page(request, "verify_email.html", {**context, "errors": refusal}, 429)
        try:
            services.user_verify_email(token=token)
        except ValidationError as exc:
            return page(request, "verify_email.html", {**context, "errors": error_messages(exc)}, 400)
        return page(request, "verify_email.html", {**context, "done": True})
    return page(request, "verify_email.html", context)


@never_cache
@csrf_protect
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def password_reset(request):
    token = request.POST.get("token") if request.method == "POST" else request.GET.get("token")
    token = (token or "").strip()
    user = tokens.read_reset_token(token) if token else None
    context = {"title": "Choose a new password", "token": token,
               "help_html": password_validation.password_validators_help_text_html()}
    if user is None or not user.is_active:
        return page(request, "password_reset.html", {**context, "invalid": True}, 400)
    context["email"] = user.email
    if request.method == "POST":
        new, again = request.POST.get("new_password", ""), request.POST.get("new_password_again", "")
        refusal = limited(request)
        if refusal:
            return page(request, "password_reset.html", {**context, "errors": refusal}, 429)
        errors = [] if new == again else ["The two passwords differ."]
        if not errors:
            try:
                services.password_reset_confirm(token=token, new_password=new)
            except ValidationError as exc:
                errors = error_messages(exc)
        if errors:
            return page(request, "password_reset.html", {**context, "errors": errors}, 400)
        return page(request, "password_reset.html", {**context, "done": True})
    return page(request, "password_reset.html", context)


urlpatterns = [
    re_path(r"^auth/verify-email/?$", verify_email, name="page-verify-email"),
    re_path(r"^auth/password/reset/?$", password_reset, name="page-password-reset"),
]
