"""Helpers for admin actions across the console's apps.

`confirm_first` puts Django's "Are you sure?" step (as in "delete selected") in front of any
destructive action; `secrets_once_response` shows freshly minted secrets on a page that is
never stored (not in the messages cookie, not in the session, not in a log).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

SHOWN_OBJECTS = 50  # the page lists this many of the selected objects, then "and N more"


def confirm_first(question: str, *, verb: str) -> Callable:
    """Decorate an admin action so it runs only after the operator confirms on a page that
    lists what it will touch. `question` like "Revoke these keys?", `verb` like "revoke"."""

    def decorate(action: Callable) -> Callable:
        @wraps(action)
        def wrapper(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
            if request.POST.get("post") == "yes":
                return action(modeladmin, request, queryset)
            return confirmation_response(
                modeladmin, request, queryset, action_name=action.__name__, question=question, verb=verb
            )

        return wrapper

    return decorate


def confirmation_response(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, *, action_name: str, question: str,
    verb: str,
) -> HttpResponse:
    opts = modeladmin.model._meta
    pks = [str(pk) for pk in queryset.values_list("pk", flat=True)]
    shown = list(queryset[:SHOWN_OBJECTS])
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": question,
        "subtitle": None,
        "question": question,
        "verb": verb,
        "opts": opts,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "pks": pks,
        "shown": shown,
        "more": len(pks) - len(shown),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/console/confirm_action.html", context)


def secrets_once_response(
    modeladmin: admin.ModelAdmin, request: HttpRequest, *, title: str, rows: list[tuple[str, str]]
) -> HttpResponse:
    """A page with (label, secret) rows. Caching is off, so Back does not bring it back."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": modeladmin.model._meta,
        "rows": rows,
    }
    request.current_app = modeladmin.admin_site.name
    response = TemplateResponse(request, "admin/console/secrets_once.html", context)
    response["Cache-Control"] = "no-store"
    return response


class DeleteThroughService:
    """Admin deletes — one object or the "delete selected" action — go through the app's
    service (audit, schedules and other side effects), never straight to the ORM. Implement
    `delete_through_service(obj, actor)`."""

    def delete_through_service(self, obj, actor) -> None:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj) -> None:
        self.delete_through_service(obj, request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_through_service(obj, request.user)
