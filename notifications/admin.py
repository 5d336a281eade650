"""The operators' notification pages: templates (edit, preview, reset to the file), the log of
every e-mail (capped paginator), people's preferences and address opt-outs (read-only)."""
from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework.exceptions import ValidationError

from core.admin import CappedPaginator, ReadOnlyAdmin, RecordAdmin, relative_time
from notifications import rendering, selectors, services
from notifications.catalogue import KINDS
from notifications.models import TEMPLATE_PARTS, AddressOptOut, EmailNotification, EmailTemplate, NotificationPreference


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ("subject", "text_body", "html_body")

    def clean(self):
        data = super().clean()
        for part, message in rendering.syntax_errors({p: data.get(p) or "" for p, _ in TEMPLATE_PARTS}).items():
            self.add_error(part, message)
        return data


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ("name", "category", "description", "updated_at", "updated_by", "preview")
    search_fields = ("name", "subject")
    readonly_fields = ("name", "category", "updated_at", "updated_by", "preview")
    fields = ("name", "category", "subject", "text_body", "html_body", "updated_at", "updated_by", "preview")
    actions = ["reset_to_file"]

    def has_add_permission(self, request) -> bool:
        return False  # the catalogue (notifications/catalogue.py) says which templates exist

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # "reset to the file" instead: a deleted row would quietly fall back anyway

    @admin.display(description="category")
    def category(self, obj) -> str:
        return KINDS[obj.name].category if obj.name in KINDS else "—"

    @admin.display(description="sent when")
    def description(self, obj) -> str:
        return KINDS[obj.name].description if obj.name in KINDS else "(not in the catalogue: never sent)"

    @admin.display(description="preview")
    def preview(self, obj) -> str:
        if obj.pk is None:
            return "—"
        return format_html('<a href="{}">preview with sample data</a>',
                           reverse("admin:notifications_emailtemplate_preview", args=[obj.pk]))

    def save_model(self, request, obj, form, change) -> None:
        current = EmailTemplate.objects.get(pk=obj.pk)
        services.email_template_update(template=current, actor=request.user,
                                       **{part: form.cleaned_data[part] for part, _ in TEMPLATE_PARTS})

    def get_urls(self):
        return [path("<int:pk>/preview/", self.admin_site.admin_view(self.preview_view),
                     name="notifications_emailtemplate_preview"), *super().get_urls()]

    def preview_view(self, request, pk):
        template = get_object_or_404(EmailTemplate, pk=pk)
        if not self.has_view_permission(request, template):
            return TemplateResponse(request, "admin/notifications/emailtemplate_preview.html", {"denied": True},
                                    status=403)
        return TemplateResponse(request, "admin/notifications/emailtemplate_preview.html", {
            **self.admin_site.each_context(request), "title": f"Preview: {template.name}", "subtitle": None,
            "opts": EmailTemplate._meta, "original": template,
            "rendered": selectors.email_template_preview(template=template),
        })

    @admin.action(description="Reset to the words of the file", permissions=["change"])
    def reset_to_file(self, request, queryset) -> None:
        done = 0
        for template in queryset:
            try:
                services.email_template_reset(template=template, actor=request.user)
                done += 1
            except (ValidationError, OSError) as exc:  # a file that no longer exists or compiles
                self.message_user(request, f"{template}: {exc}", messages.ERROR)
        self.message_user(request, f"Reset {done} of {queryset.count()} templates.", messages.SUCCESS)


@admin.register(EmailNotification)
class EmailNotificationAdmin(RecordAdmin):
    list_display = ("created", "template", "category", "to", "status", "subject", "error")
    list_filter = ("status", "category", "template")
    search_fields = ("to", "key")  # a key names what it was about: invoice_finalized:<invoice id>
    paginator = CappedPaginator
    show_full_result_count = False
    readonly_fields = [field.name for field in EmailNotification._meta.fields]

    @admin.display(description="at", ordering="created_at")
    def created(self, obj):
        return relative_time(obj.created_at)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(RecordAdmin):
    """Read-only: support can see why someone got no incident mail; only the person changes it
    (`PATCH /api/v1/auth/me/notifications` or an unsubscribe link). Security mail has no switch."""

    list_display = ("user", "invitations", "incidents", "billing", "product", "updated_at")
    list_filter = ("invitations", "incidents", "billing", "product")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    readonly_fields = ("user", "invitations", "incidents", "billing", "product", "updated_at")
    show_full_result_count = False


@admin.register(AddressOptOut)
class AddressOptOutAdmin(ReadOnlyAdmin):
    """Addresses without an account that unsubscribed by link (deleting a row re-subscribes)."""

    list_display = ("address", "category", "created_at")
    list_filter = ("category",)
    search_fields = ("address",)
    paginator = CappedPaginator
    show_full_result_count = False
