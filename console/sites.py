"""The admin site of the operators' console: Django's, plus the dashboard page and a fleet
strip on the index."""
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from accounts.ratelimits import limit_email, limit_ip
from console import selectors, views
from core.api.exceptions import RateLimitExceeded, ServiceUnavailable


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Groundstation"
    site_title = "Groundstation"
    index_title = "Operators' console"

    def get_urls(self):
        return [
            path("dashboard/", self.admin_view(self.dashboard), name="dashboard"),
            path("logout/confirm/", self.admin_view(self.logout_confirm), name="logout_confirm"),
            *super().get_urls(),
        ]

    def logout_confirm(self, request):
        """The header's "Log out" link lands here; the one form of this page signs out (POST)."""
        context = {**self.each_context(request), "title": "Log out", "subtitle": None}
        request.current_app = self.name
        return TemplateResponse(request, "admin/console/logout_confirm.html", context)

    def dashboard(self, request):
        """Any signed-in staff user may look; the figures are platform-wide aggregates."""
        return views.dashboard_view(request, site=self)

    def login(self, request, extra_context=None):
        """Django's login, behind the API login's budgets (the same counters, so alternating
        between the two gains nothing). Only attempts (POSTs) spend them."""
        if request.method == "POST":
            try:
                limit_ip(request)
                limit_email(request, action="login", email=request.POST.get("username", ""))
            except (RateLimitExceeded, ServiceUnavailable) as exc:
                return self._refused_login(request, exc)
        return super().login(request, extra_context)

    def _refused_login(self, request, exc) -> TemplateResponse:
        limited = isinstance(exc, RateLimitExceeded)
        context = {
            **self.each_context(request),
            "title": "Too many attempts" if limited else "Try again later",
            "message": "Too many sign-in attempts; wait a little and try again." if limited else str(exc.detail),
            "retry_after": exc.retry_after if limited else None,
            "login_url": request.get_full_path(),
        }
        response = TemplateResponse(
            request, "admin/console/too_many_attempts.html", context, status=exc.status_code
        )
        if limited:
            response["Retry-After"] = str(exc.retry_after)
        return response

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "fleet_strip": selectors.fleet_strip()}
        return super().index(request, extra_context=extra_context)
