"""Routers whose routes answer with and without a trailing slash (no redirects on POST)."""
from rest_framework.routers import DefaultRouter


class OptionalSlashRouter(DefaultRouter):
    include_root_view = False
    include_format_suffixes = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"
