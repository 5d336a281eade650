"""Paginators for the console's big tables (snapshots, calls, usage, audit events)."""
from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedPaginator(Paginator):
    """Counts at most CAP rows: an exact COUNT(*) over millions of rows on every page view is
    the slow part of a changelist. Past the cap the last page link stops at CAP / per_page;
    filters narrow further."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.values("pk")[: self.CAP].count()
