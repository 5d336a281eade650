"""Operators' console for tenants: writes go through the same services as the API."""
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator
from rest_framework.exceptions import APIException

from core.admin import apply_each, confirm_first, state_badge
from core.rates import parse_rates
from tenants import services
from tenants.billing import clean_billing_account
from tenants.models import Invitation, Membership, Plan, Tenant
from tenants.policy import Action, role_allows


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ("name", "slug", "plan", "billing_account")
        help_texts = {
            "billing_account": 'JSON: {"company_name", "company_address", "tax_number_type" (vat|gst|ein), '
            '"tax_number", "country" (ISO 3166 alpha-2)}',
        }

    def clean_billing_account(self):
        try:
            return clean_billing_account(self.cleaned_data.get("billing_account"))
        except APIException as exc:
            raise forms.ValidationError(json.dumps(exc.detail["billing_account"]))


class MemberUserWidget(ForeignKeyRawIdWidget):
    """The raw-id box with the member's e-mail beside it, taken from the row already loaded
    (Django's widget fetches the user again for every row: a query per member)."""

    user = None

    def label_and_url_for_value(self, value):
        if self.user is None or str(self.user.pk) != str(value):
            return super().label_and_url_for_value(value)
        return Truncator(self.user).words(14), reverse(f"{self.admin_site.name}:accounts_user_change", args=[value])


class MembershipForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        widget = self.fields["user"].widget
        if isinstance(widget, MemberUserWidget) and self.instance.user_id:
            widget.user = self.instance.user


class MembershipInline(admin.TabularInline):
    """Members at a glance; role changes here go through the last-owner rule."""

    model = Membership
    form = MembershipForm
    extra = 0
    fields = ("user", "role", "joined_at")
    readonly_fields = ("joined_at",)
    raw_id_fields = ("user",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "tenant")  # both in each row's title

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["widget"] = MemberUserWidget(db_field.remote_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ("name", "slug", "state", "plan", "member_count", "country", "created_at")
    list_filter = ("status", "plan")
    search_fields = ("name", "slug", "billing_account__company_name")
    list_select_related = ("plan",)
    readonly_fields = ("id", "status", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("id", "name", "slug", "status", "plan")}),
        ("Billing", {"fields": ("billing_account",)}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    inlines = (MembershipInline,)
    actions = ("suspend", "reactivate")
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None) -> bool:
        # A row delete would cascade to every key, node and run of the tenant and skip the
        # audit; suspend, or DELETE /api/admin/tenants/{id} (status "deleted"), instead.
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="status", ordering="status")
    def state(self, tenant):
        return state_badge(tenant.status)

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, tenant) -> int:
        return tenant._member_count

    @admin.display(description="country")
    def country(self, tenant) -> str:
        return (tenant.billing_account or {}).get("country", "")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "slug") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        data = {field: form.cleaned_data[field] for field in ("name", "billing_account", "plan")}
        if change:
            services.tenant_update(tenant=Tenant.objects.get(pk=obj.pk), actor=request.user, **data)
            return
        created = services.tenant_create(creator=None, actor=request.user, slug=form.cleaned_data["slug"], **data)
        obj.__dict__.update(created.__dict__)

    def save_formset(self, request, form, formset, change) -> None:
        """Membership rows go through the services (ceiling and last-owner rules, audit)."""
        tenant = form.instance
        formset.save(commit=False)  # fills deleted/changed/new objects without writing
        for membership in formset.deleted_objects:
            self._apply(request, lambda m=membership: services.membership_remove(membership=m, actor=request.user))
        for membership, changed in formset.changed_objects:
            if "role" in changed:
                self._apply(
                    request,
                    lambda m=membership: services.membership_change_role(
                        membership=m, role=m.role, actor=request.user
                    ),
                )
        for membership in formset.new_objects:
            self._apply(
                request,
                lambda m=membership: services.membership_add(
                    tenant=tenant, user=m.user, role=m.role, actor=request.user
                ),
            )

    def _apply(self, request, fn) -> None:
        try:
            fn()
        except APIException as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)

    def has_suspend_permission(self, request) -> bool:
        return request.user.has_perm("tenants.suspend_tenant")

    @admin.action(description="Suspend selected tenants (their keys and members get 403)", permissions=["suspend"])
    @confirm_first("Suspend these tenants? Their members and API keys get 403 on every call.", verb="suspend them")
    def suspend(self, request, queryset):
        apply_each(self, request, queryset, "Suspended",
                  lambda tenant: services.tenant_suspend(tenant=tenant, actor=request.user))

    @admin.action(description="Reactivate selected tenants", permissions=["suspend"])
    def reactivate(self, request, queryset):
        apply_each(self, request, queryset, "Reactivated",
                  lambda tenant: services.tenant_reactivate(tenant=tenant, actor=request.user))


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "can_administer", "joined_at")
    list_filter = ("role",)
    search_fields = ("user__email", "tenant__slug", "tenant__name")
    list_select_related = ("user", "tenant")
    raw_id_fields = ("user", "tenant")
    readonly_fields = ("joined_at",)
    show_full_result_count = False

    @admin.display(boolean=True, description="administers")
    def can_administer(self, membership) -> bool:
        return role_allows(membership.role, Action.ADMINISTER)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "user", "tenant") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        try:
            if change:
                services.membership_change_role(membership=obj, role=obj.role, actor=request.user)
            else:
                created = services.membership_add(tenant=obj.tenant, user=obj.user, role=obj.role, actor=request.user)
                obj.__dict__.update(created.__dict__)
        except APIException as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)

    def delete_model(self, request, obj) -> None:
        try:
            services.membership_remove(membership=obj, actor=request.user)
        except APIException as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)

    def delete_queryset(self, request, queryset) -> None:
        for membership in queryset:
            self.delete_model(request, membership)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are created through the API (the token is only ever e-mailed)."""

    list_display = ("email", "tenant", "role", "state", "invited_by", "expires_at", "created_at")
    list_filter = ("role", ("accepted_at", admin.EmptyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "tenant__slug")
    list_select_related = ("tenant", "invited_by")
    readonly_fields = ("id", "tenant", "email", "role", "invited_by", "expires_at", "accepted_at", "revoked_at",
                       "created_at")
    exclude = ("token_digest",)
    actions = ("revoke",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="state")
    def state(self, invitation):
        return state_badge(invitation.status_at(timezone.now()))

    @admin.action(description="Revoke selected invitations", permissions=["change"])
    def revoke(self, request, queryset):
        apply_each(self, request, queryset, "Revoked",
                  lambda invitation: services.invitation_revoke(invitation=invitation, actor=request.user))


class PlanForm(forms.ModelForm):
    def clean_rates(self) -> list[str]:
        """Windows (`1000/m`) and buckets (`100/s burst 200`), as the API accepts; stored normalised."""
        return [rate.text for rate in parse_rates(self.cleaned_data["rates"])]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    list_display = ("name", "slug", "rates", "price_cents", "currency", "interval", "included_requests",
                    "overage_cents_per_1000", "storage_bytes", "created_at")
    list_filter = ("currency", "interval")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "rates")}),
        ("Price (billing)", {"fields": ("price_cents", "currency", "interval", "included_requests",
                                        "overage_cents_per_1000", "stripe_price_id")}),
        ("Quotas", {"fields": ("storage_bytes",)}),
    )

    def save_model(self, request, obj, form, change) -> None:
        # Through the services: plan changes are audited and drop the tenants' cached limits.
        data = {field: form.cleaned_data[field] for field in services.PLAN_FIELDS}
        if change:
            services.plan_update(plan=Plan.objects.get(pk=obj.pk), actor=request.user, **data)
        else:
            obj.pk = services.plan_create(actor=request.user, **data).pk

    def delete_model(self, request, obj) -> None:
        try:
            services.plan_delete(plan=obj, actor=request.user)
        except APIException as exc:  # tenants are still on it
            self.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)

    def delete_queryset(self, request, queryset) -> None:
        for plan in queryset:
            self.delete_model(request, plan)
