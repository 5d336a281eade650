"""A console site of its own for the action-helper tests: one model admin whose actions use
`confirm_first` and `secrets_once_response`, calling the real services."""
from django.contrib import admin
from django.urls import path

from apikeys import services as key_services
from apikeys.models import ApiKey
from console.sites import ConsoleAdminSite
from core.admin import confirm_first, secrets_once_response
from tenants import services as tenant_services
from tenants.models import Tenant

site = ConsoleAdminSite(name="probe")


@admin.register(Tenant, site=site)
class ProbeTenantAdmin(admin.ModelAdmin):
    actions = ["suspend"]

    @admin.action(description="Suspend", permissions=["change"])
    @confirm_first("Suspend these tenants?", verb="suspend them")
    def suspend(self, request, queryset):
        for tenant in queryset:
            tenant_services.tenant_suspend(tenant=tenant, actor=request.user)
        self.message_user(request, f"Suspended {queryset.count()}.")


@admin.register(ApiKey, site=site)
class ProbeKeyAdmin(admin.ModelAdmin):
    actions = ["rotate"]

    @admin.action(description="Rotate", permissions=["change"])
    @confirm_first("Rotate these keys?", verb="rotate them")
    def rotate(self, request, queryset):
        rows = [(key.name, key_services.api_key_rotate(key=key, actor=request.user)[1]) for key in queryset]
        return secrets_once_response(self, request, title="New key secrets", rows=rows)


urlpatterns = [path("admin/", site.urls)]
