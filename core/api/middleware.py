"""Request id, body-size guard, envelope for non-JSON errors, and the access log."""
import logging
import re
import time
import uuid

import structlog

from core.api.errors import error_response
from core.api.request_context import reset_request_id, set_request_id
from core.body_limit import request_body_limit

access_logger = logging.getLogger("groundstation.access")
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Paths that render HTML for people; their errors stay HTML.
HTML_PREFIXES = ("/admin/", "/api/docs", "/api/redoc", "/auth/", "/invitations/", "/notifications/")


class RequestIdMiddleware:
    """Outermost of ours: names the request, guards body size, keeps every error an envelope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = set_request_id(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self._too_large(request) or self.get_response(request)
            response = self._envelope_plain_errors(request, response)
            response["X-Request-ID"] = request_id
            return response
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            reset_request_id(token)

    @staticmethod
    def _too_large(request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, message="Invalid Content-Length header.")
        limit = request_body_limit(request.path)
        if length > limit:
            return error_response(413, message=f"The request body exceeds {limit} bytes.")
        return None

    @staticmethod
    def _envelope_plain_errors(request, response):
        """Django's own 4xx/5xx (405 from plain views, CSRF 403…) become the envelope too."""
        if response.status_code < 400 or request.path.startswith(HTML_PREFIXES):
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith("application/json") or getattr(response, "streaming", False):
            return response
        replacement = error_response(response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


class AccessLogMiddleware:
    """One structured line per request: who, which tenant, which route, status, duration."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        tenant = getattr(request, "tenant", None)
        access_logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "route": ("/" + match.route) if match and match.route else None,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user": str(getattr(user, "pk", "") or "") if user and user.is_authenticated else None,
                "tenant": getattr(tenant, "slug", None),
            },
        )
        return response
