"""URL map: platform endpoints, docs, the admin, the public API and the staff API."""
from importlib import import_module

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

import core.api.schema  # noqa: F401  (registers the OpenAPI auth extension)
from console.views import landing_view
from core import health

admin.site.site_header = "Groundstation"
admin.site.site_title = "Groundstation"
admin.site.index_title = "Operators' console"

API_APPS = ("accounts", "tenants", "apikeys", "monitoring", "orchestration", "recommendations", "billing",
            "files", "deployments")


def _collect(attribute: str) -> list:
    """Each app's `api/urls.py` contributes `urlpatterns` (the API), `staff_urlpatterns` and
    `public_urlpatterns` (outside /api/, no credential: share links)."""
    patterns = []
    for app in API_APPS:
        patterns += getattr(import_module(f"{app}.api.urls"), attribute, [])
    return patterns


urlpatterns = [
    path("", landing_view, name="landing"),
    path("health", health.liveness, name="health"),
    path("health/ready", health.readiness, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^api/redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    # Pages behind the links in e-mails (HTML for people; the API equivalents are POSTs).
    path("", include("accounts.pages")),
    path("", include("tenants.pages")),
    path("", include("notifications.pages")),
    path("api/v1/", include(_collect("urlpatterns"))),
    path("api/admin/", include(_collect("staff_urlpatterns"))),
    path("", include(_collect("public_urlpatterns"))),
]

handler400 = "core.api.errors.bad_request"
handler403 = "core.api.errors.permission_denied"
handler404 = "core.api.errors.page_not_found"
handler500 = "core.api.errors.server_error"
