"""Pagination (docs/api.md, "Lists and pagination"): page numbers for lists, cursors for time series; page_size ≤ 200.

`page_size` must be a positive integer (a malformed one is a 400, not silently ignored);
above 200 it is capped.
"""
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

MAX_PAGE_SIZE = 200


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


class PageNumberPagination(pagination.PageNumberPagination):
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
