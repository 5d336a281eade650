"""The error envelope (docs/api.md, "Errors"), for DRF views, plain Django views and the handlers.

Every 4xx/5xx leaves the platform as
`{"error": {"code", "message", "details", "request_id", "timestamp"}}` and never carries a
stack trace or SQL.
"""
import logging
import sys
from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django_ratelimit.exceptions import Ratelimited
from psycopg_pool import PoolTimeout
from rest_framework import exceptions as drf
from rest_framework.views import set_rollback

from core.api.exceptions import RateLimitExceeded
from core.api.request_context import current_request_id

logger = logging.getLogger("groundstation.errors")

CODE_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_FAILED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "VALIDATION_ERROR",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
MESSAGE_BY_STATUS = {
    400: "The request is invalid.",
    401: "Authentication credentials were missing or invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    415: "Unsupported media type.",
    429: "Rate limit exceeded; retry later.",
    500: "An internal error occurred.",
    503: "A dependency is unavailable; retry later.",
}
DEFAULT_RETRY_AFTER = 60
POOL_RETRY_AFTER = 1  # a busy pool frees a connection within a request's time
DATABASE_RETRY_AFTER = 5


def envelope(status: int, *, code: str | None = None, message: str | None = None, details=None) -> dict:
    return {
        "error": {
            "code": code or CODE_BY_STATUS.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"),
            "message": message or MESSAGE_BY_STATUS.get(status, "Request failed."),
            "details": details or {},
            "request_id": current_request_id(),
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    }


def error_response(status: int, *, code=None, message=None, details=None, headers=None) -> JsonResponse:
    response = JsonResponse(envelope(status, code=code, message=message, details=details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _validation_details(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _to_api_exception(exc):
    """Translate Django-level exceptions into DRF ones; None for unexpected errors."""
    if isinstance(exc, drf.APIException):
        return exc
    if isinstance(exc, Ratelimited):
        return RateLimitExceeded(retry_after=getattr(exc, "retry_after", DEFAULT_RETRY_AFTER))
    if isinstance(exc, Http404):
        return drf.NotFound()
    if isinstance(exc, RequestDataTooBig):
        from core.api.exceptions import PayloadTooLarge

        return PayloadTooLarge()
    if isinstance(exc, PermissionDenied):
        return drf.PermissionDenied()
    if isinstance(exc, SuspiciousOperation):
        return drf.ValidationError({"non_field_errors": ["The request was malformed."]})
    return None


def _pool_exhausted(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, PoolTimeout):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def database_unavailable(exc: BaseException) -> JsonResponse:
    """503 with Retry-After: the database is unreachable, or every pooled connection is busy."""
    if _pool_exhausted(exc):
        # Expected under overload and bounded by design (DATABASE_POOL_SIZE): no traceback.
        logger.warning("database connection pool exhausted")
        return error_response(
            503, message="The server is at its database connection limit; retry later.",
            headers={"Retry-After": str(POOL_RETRY_AFTER)},
        )
    logger.exception("database unavailable")
    return error_response(
        503, message="The database is unavailable; retry later.", headers={"Retry-After": str(DATABASE_RETRY_AFTER)}
    )


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error becomes the envelope."""
    api_exc = _to_api_exception(exc)
    if api_exc is None:
        set_rollback()
        if isinstance(exc, DataError):
            # A value the database cannot store or compare (e.g. a time-zone offset out of its range).
            return error_response(400, message="A value is out of the range the server can handle.")
        if isinstance(exc, IntegrityError):
            return error_response(409, message="The request conflicts with the current state of the resource.")
        if isinstance(exc, (OperationalError, InterfaceError)):
            return database_unavailable(exc)
        if isinstance(exc, DatabaseError):
            logger.exception("database error")
            return error_response(500)
        logger.exception("unhandled error in API view")
        return error_response(500)

    set_rollback()
    status = api_exc.status_code
    headers = dict(getattr(api_exc, "headers", None) or {})
    detail = api_exc.detail
    details = {}
    code = getattr(api_exc, "default_code", None)
    if isinstance(api_exc, drf.ValidationError):
        code, details = "VALIDATION_ERROR", _validation_details(detail)
        message = _first_message(detail) if not isinstance(detail, dict) else "The request is invalid."
    elif isinstance(api_exc, drf.ParseError):
        code, message = "VALIDATION_ERROR", f"Malformed request body: {detail}"
    elif isinstance(api_exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        code, message = "AUTHENTICATION_FAILED", _first_message(detail)
        if isinstance(detail, dict) and "messages" in detail:  # simplejwt's verbose payload
            message = str(detail.get("detail", message))
    elif isinstance(api_exc, (RateLimitExceeded, drf.Throttled)):
        code, message = "RATE_LIMIT_EXCEEDED", _first_message(detail)
        retry = getattr(api_exc, "retry_after", None) or getattr(api_exc, "wait", None) or DEFAULT_RETRY_AFTER
        headers["Retry-After"] = str(int(retry))
    elif code and code.isupper():  # our own coded exceptions
        message = _first_message(detail)
    else:
        code, message = CODE_BY_STATUS.get(status, "VALIDATION_ERROR"), _first_message(detail)
    if isinstance(api_exc, drf.MethodNotAllowed):
        code = "METHOD_NOT_ALLOWED"
    return error_response(status, code=code, message=message, details=details, headers=headers)


# --- Django handlers for non-DRF paths --------------------------------------------------------
def bad_request(request, exception=None):
    return error_response(400, message="The request was malformed.")


def permission_denied(request, exception=None):
    if isinstance(exception, Ratelimited):
        return error_response(429, headers={"Retry-After": str(DEFAULT_RETRY_AFTER)})
    return error_response(403)


def page_not_found(request, exception=None):
    return error_response(404)


def server_error(request):
    # Django calls this inside its `except` block: a database failure outside a DRF view
    # (middleware, plain views) is a 503 too.
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        return database_unavailable(exc)
    return error_response(500)
