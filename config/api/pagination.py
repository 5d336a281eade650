"""Pagination of SPEC §2: page numbers for lists, cursors for time series; page_size ≤ 200."""
from rest_framework import pagination

MAX_PAGE_SIZE = 200


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class TimeSeriesCursorPagination(pagination.CursorPagination):
    """Stable under inserts and cheap on deep pages; subclasses set `ordering`."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-created_at"
