"""API exceptions that carry the error codes of docs/api.md ("Errors") beyond DRF's own."""
from rest_framework import status
from rest_framework.exceptions import APIException


class TenantRequired(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "TENANT_REQUIRED"
    default_detail = "Name the tenant with the X-Tenant header; you belong to several (or none)."


class EmailNotVerified(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "EMAIL_NOT_VERIFIED"
    default_detail = "Verify your e-mail address before signing in."


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "CONFLICT"
    default_detail = "The request conflicts with the current state of the resource."


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "PAYLOAD_TOO_LARGE"
    default_detail = "The request body is too large."


class RateLimitExceeded(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "RATE_LIMIT_EXCEEDED"
    default_detail = "Rate limit exceeded; retry later."

    def __init__(self, retry_after: int, detail=None, headers: dict | None = None):
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))
        self.headers = headers or {}


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "SERVICE_UNAVAILABLE"
    default_detail = "A dependency is unavailable; retry later."
