"""Admin helpers every app's console pages use: actions, paginators, list-column display.

- `confirm_first` puts Django's "Are you sure?" step (as in "delete selected") in front of any
  destructive action; `apply_each` runs a service over the selected rows and reports counts and
  per-row refusals; `DeleteThroughService` routes admin deletes through the app's service;
- `secrets_once_response` shows freshly minted secrets on a page that is never stored (not in
  the messages cookie, not in the session, not in a log);
- `CappedPaginator` for big tables; `relative_time` for "3 minutes ago" columns; `badge`,
  `short_id` and `truncated` for states, long ids and long text that keep a row on one line.

Generic over models: nothing here knows a domain, so every app's `admin.py` imports it.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from rest_framework.exceptions import APIException

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
    return TemplateResponse(request, "admin/core/confirm_action.html", context)


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
    response = TemplateResponse(request, "admin/core/secrets_once.html", context)
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


def apply_each(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, verb: str, fn: Callable
) -> None:
    """Apply a service to each selected row; report counts and per-row refusals (a service's
    APIException, e.g. the last-owner rule), so one refused row does not stop the others."""
    done = 0
    for obj in queryset:
        try:
            fn(obj)
            done += 1
        except APIException as exc:
            modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
    modeladmin.message_user(request, f"{verb} {done} of {queryset.count()}.", messages.SUCCESS)


class CappedPaginator(Paginator):
    """Counts at most CAP rows: an exact COUNT(*) over millions of rows on every page view is
    the slow part of a changelist. Past the cap the last page link stops at CAP / per_page;
    filters narrow further."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.values("pk")[: self.CAP].count()


def relative_time(value: datetime | None, *, now: datetime | None = None) -> SafeString | str:
    """"3 minutes ago", with the exact UTC time on hover; "—" when never."""
    if value is None:
        return "—"
    now = now or timezone.now()
    exact = f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if value > now:
        return format_html('<span title="{}">in {}</span>', exact, timesince(now, value))
    return format_html('<span title="{}">{} ago</span>', exact, timesince(value, now))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records and platform-managed rows: operators read them, services write them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RecordAdmin(ReadOnlyAdmin):
    """Rows that are a record (audit trail, access log, counters): not deleted from the admin
    either, so the record stays whole."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def may_change(request: HttpRequest, model) -> bool:
    """For actions on read-only pages: whether the user holds the model's change permission
    (their `has_change_permission` is False because the form edits nothing)."""
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


def badge(label: str, colour: str, *, title: str = "") -> SafeString:
    """A state as a coloured pill that carries its word (readable without the colour)."""
    return format_html('<span class="console-badge" style="background:{}" title="{}">{}</span>', colour,
                       title or label, label)


# One palette for the states the lists show, so "revoked" looks the same on every page.
GOOD, WAITING, BAD, QUIET = "#2e7d32", "#ef6c00", "#c62828", "#6e7781"
STATE_COLOURS = {
    **dict.fromkeys(("active", "accepted", "verified", "paid", "ready", "succeeded", "completed", "open"), GOOD),
    **dict.fromkeys(("pending", "expired", "trialing", "past_due", "training", "draft", "not_verified",
                     "inactive", "processing"), WAITING),
    **dict.fromkeys(("revoked", "blocked", "suspended", "deleted", "failed", "void", "uncollectible", "canceled",
                     "exhausted"), BAD),
}


def state_badge(state: str, *, title: str = "") -> SafeString:
    """`badge` with the console's colour for a state word (grey for one it does not know)."""
    return badge(state.replace("_", " "), STATE_COLOURS.get(state, QUIET), title=title)


def short_id(value, *, length: int = 8) -> SafeString | str:
    """The first characters of a long id, the whole id on hover (and for copying)."""
    if value in (None, ""):
        return "—"
    text = str(value)
    if len(text) <= length + 1:
        return format_html("<code>{}</code>", text)
    return format_html('<code class="console-id" title="{}">{}…</code>', text, text[:length])


def truncated(text: str, *, length: int = 60) -> SafeString | str:
    """Long free text cut to `length` characters (and by CSS to its column), the full text on hover."""
    if not text:
        return ""
    if len(text) <= length:
        return format_html('<span class="console-ellipsis">{}</span>', text)
    return format_html('<span class="console-ellipsis" title="{}">{}…</span>', text, text[: length - 1])
