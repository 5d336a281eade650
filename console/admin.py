"""Console-wide admin adjustments: third-party models, and pages that need several apps.

A tenant's page (console/tenant_page.py) shows the usage, billing, files and recommendations
of the tenant; the tenants app may not import those, so its admin is replaced here.

django_celery_beat's periodic-task actions (enable, disable, toggle, run now) declare no
permission, so anyone who may *view* the list could run them; here they need `change`.
"""
from functools import wraps

from django.contrib import admin
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask

from console.tenant_page import TenantPage
from tenants.models import Tenant


def _needs_change(action):
    @wraps(action)  # keeps the action's description
    def wrapper(modeladmin, request, queryset):
        return action(modeladmin, request, queryset)

    wrapper.allowed_permissions = ("change",)
    return wrapper


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    enable_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.enable_tasks)
    disable_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.disable_tasks)
    toggle_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.toggle_tasks)
    run_tasks = _needs_change(beat_admin.PeriodicTaskAdmin.run_tasks)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)

admin.site.unregister(Tenant)
admin.site.register(Tenant, TenantPage)
