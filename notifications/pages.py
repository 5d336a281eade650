"""The one-click unsubscribe page behind every non-security e-mail's link (RFC 8058).

No sign-in: the signed token names the address and the category. A GET only asks (a mail
scanner that prefetches the link changes nothing); a POST unsubscribes — from the page's
button, or straight from the mail client (`List-Unsubscribe-Post: List-Unsubscribe=One-Click`),
which sends no CSRF token, so the token itself is the authority. A tampered token is a 400
page and changes nothing.
"""
from django.contrib import admin
from django.shortcuts import render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from notifications import services


@never_cache
@csrf_exempt  # RFC 8058: the mail client's one-click POST carries no CSRF token; the signature stands in
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    found = services.unsubscribe_read(token)
    context = {**admin.site.each_context(request), "title": "Unsubscribe"}
    if found is None:
        return render(request, "pages/unsubscribe.html", {**context, "invalid": True}, status=400)
    address, category = found
    context.update(address=address, category=category)
    if request.method == "POST":
        services.unsubscribe(address=address, category=category)
        context["done"] = True
    return render(request, "pages/unsubscribe.html", context)


urlpatterns = [
    path("notifications/unsubscribe/<str:token>", unsubscribe, name="page-unsubscribe"),
]
