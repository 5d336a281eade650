"""Browser page for the invitation link: sign in or register, then accept (accounts/pages.py).

The person signs in with a session on this page (or already has one, e.g. from the admin). A
GET changes nothing; signing in, registering and accepting are CSRF-protected POSTs through the
services the API uses. Registering here marks the address verified: the invitation's token was
delivered to it, which is all that verification would prove.
"""
from django.contrib.auth import logout, password_validation
from django.shortcuts import redirect
from django.urls import re_path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from rest_framework.exceptions import APIException

from accounts import services as account_services
from accounts.pages import error_messages, limited, page, session_sign_in
from tenants import selectors, services

TEMPLATE = "invitation_accept.html"


@never_cache
@csrf_protect
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def invitation_accept(request):
    token = ((request.POST if request.method == "POST" else request.GET).get("token") or "").strip()
    invitation = selectors.invitation_get_by_token(token=token) if token else None
    context = {"title": "Accept an invitation", "token": token, "invitation": invitation,
               "help_html": password_validation.password_validators_help_text_html()}
    if invitation is None:
        return page(request, TEMPLATE, {**context, "invalid": "This invitation does not exist."}, 404)
    state = invitation.status_at(timezone.now())
    if state != "pending":
        return page(request, TEMPLATE, {**context, "invalid": f"This invitation has been {state}."}, 400)
    if request.method == "GET":
        return page(request, TEMPLATE, context)

    action = request.POST.get("action")
    email = request.POST.get("email", "") if action == "sign-in" else None
    refusal = limited(request, email=email)
    if refusal:
        return page(request, TEMPLATE, {**context, "errors": refusal}, 429)
    errors: list[str] = []
    if action == "sign-in":
        errors = session_sign_in(request, email=email, password=request.POST.get("password", ""))
    elif action == "register":
        errors = _register(request, email=invitation.email, name=request.POST.get("name", ""),
                           password=request.POST.get("password", ""))
    elif action == "sign-out":
        logout(request)
    elif action == "accept" and request.user.is_authenticated:
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except APIException as exc:
            errors = error_messages(exc)
        else:
            return page(request, TEMPLATE, {**context, "accepted": membership})
    else:
        errors = ["Sign in or register first."]
    if errors:
        return page(request, TEMPLATE, {**context, "errors": errors}, 400)
    return redirect(f"{request.path}?token={token}")  # the page again, now with the Accept button


def _register(request, *, email: str, name: str, password: str) -> list[str]:
    try:
        user = account_services.user_register(email=email, password=password, name=name)
    except APIException as exc:
        return error_messages(exc)
    account_services.user_mark_verified(user=user, actor=user)
    return session_sign_in(request, email=email, password=password)


urlpatterns = [
    re_path(r"^invitations/accept/?$", invitation_accept, name="page-invitation-accept"),
]
