"""Pagination (docs/api.md, "Lists and pagination"): page numbers for lists, cursors for time series; page_size ≤ 200.

`page_size` must be a positive integer (a malformed one is a 400, not silently ignored);
above 200 it is capped. A page of a list is one query: the list's total rides along with the
page's rows (`CountingPaginator`).
"""
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

MAX_PAGE_SIZE = 200
# The largest row offset a database can bind (a signed 64-bit integer): SQLite refuses a larger
# one outright, and no list holds that many rows, so such a page is simply past the end.
MAX_OFFSET = 2**63 - 1


def strict_page_size(request, paginator) -> int:
    values = request.query_params.getlist(paginator.page_size_query_param)
    if not values:
        return paginator.page_size
    if len(values) > 1:
        raise ValidationError({"page_size": ["Give page_size once."]})
    try:
        size = int(values[0])
    except ValueError:
        raise ValidationError({"page_size": ["A positive integer is required."]})
    if size < 1:
        raise ValidationError({"page_size": ["A positive integer is required."]})
    return min(size, paginator.max_page_size)


class CountingPaginator(Paginator):
    """Django's paginator, with a queryset's page and total read in one query instead of two.

    The total is an uncorrelated scalar subquery on every row of the page (`SELECT COUNT(*)
    FROM (<the list without its ordering>)`): the database evaluates it once, with the plan a
    separate COUNT would get, and the round trip that COUNT cost is gone. A page past the end
    has no row to carry the total; it is out of range exactly then (without orphans, every
    page up to the last has a row), so it answers as Django's paginator would.
    """

    TOTAL = "paginator_total"

    def page(self, number):
        if not isinstance(self.object_list, QuerySet) or self.orphans:
            return super().page(number)
        number = self._page_number(number)
        bottom = (number - 1) * self.per_page
        if bottom + self.per_page > MAX_OFFSET:
            raise EmptyPage(self.error_messages["no_results"])
        rows = list(self._with_total()[bottom:bottom + self.per_page])
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        self.__dict__["count"] = getattr(rows[0], self.TOTAL) if rows else 0  # `count` is a cached_property
        return self._get_page(rows, self.validate_number(number), self)

    def _page_number(self, number) -> int:
        """`validate_number`'s checks that need no total."""
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"])
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def _with_total(self) -> QuerySet:
        listed = self.object_list.order_by().values("pk")
        # Django compiles the list's SQL; every value in it stays a bound parameter.
        sql, params = listed.query.get_compiler(using=listed.db).as_sql()
        total = RawSQL(f"SELECT COUNT(*) FROM ({sql}) AS listed", params)  # noqa: S608, S611
        return self.object_list.annotate(**{self.TOTAL: total})


class PageNumberPagination(pagination.PageNumberPagination):
    django_paginator_class = CountingPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return strict_page_size(request, self)

    def get_page_number(self, request, paginator):
        # DRF reads `?page=` as page 1; an empty or repeated page is a client error.
        values = request.query_params.getlist(self.page_query_param)
        if len(values) > 1 or (values and values[0] == ""):
            raise ValidationError({self.page_query_param: ["Give one page number."]})
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters


class TimeSeriesCursorPagination(pagination.CursorPagination):
    """Stable under inserts and cheap on deep pages; subclasses set `ordering`."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-created_at"

    def get_page_size(self, request):
        return strict_page_size(request, self)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters
