"""The admin site of the operators' console: Django's, plus the dashboard page and a fleet
strip on the index."""
from django.contrib import admin
from django.urls import path

from console import selectors, views


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Groundstation"
    site_title = "Groundstation"
    index_title = "Operators' console"

    def get_urls(self):
        return [path("dashboard/", self.admin_view(self.dashboard), name="dashboard"), *super().get_urls()]

    def dashboard(self, request):
        """Any signed-in staff user may look; the figures are platform-wide aggregates."""
        return views.dashboard_view(request, site=self)

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "fleet_strip": selectors.fleet_strip()}
        return super().index(request, extra_context=extra_context)
