"""`/api/v1/uploads`: resumable uploads speaking the tus 1.0.0 protocol.

Extensions: creation, expiration, checksum (sha256), termination. Authenticated, tenant-scoped
and policed like every other endpoint (the gateway meters and limits each request); errors
are the platform's envelope, with the status codes tus prescribes (409 offset mismatch,
412 unsupported version, 415 wrong content type, 460 checksum mismatch).
"""
import base64
import binascii
import logging

from django.conf import settings
from django.utils import timezone
from django.utils.http import http_date
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ParseError, UnsupportedMediaType, ValidationError
from rest_framework.response import Response

from core.api.tenancy import TenantScopedViewSet
from files import uploads
from files.api.permissions import UPLOAD_ACTIONS
from files.models import FileUploadSession

logger = logging.getLogger("groundstation.files")

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,checksum,termination"
PATCH_CONTENT_TYPE = "application/offset+octet-stream"
MAX_METADATA_BYTES = 4096


class UnsupportedTusVersion(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "VALIDATION_ERROR"
    default_detail = f"Send Tus-Resumable: {TUS_VERSION}."


class ChecksumMismatch(APIException):
    status_code = 460  # tus' own status for "Checksum Mismatch"
    default_code = "VALIDATION_ERROR"
    default_detail = "The chunk does not match its Upload-Checksum; it was discarded, resend it."


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata: filename d29ybGQ=,flag` → {"filename": "world", "flag": ""}."""
    if len(header) > MAX_METADATA_BYTES:
        raise ValidationError({"Upload-Metadata": [f"At most {MAX_METADATA_BYTES} bytes."]})
    metadata = {}
    for pair in filter(None, (item.strip() for item in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationError({"Upload-Metadata": [f"The value of {key!r} is not base64 of UTF-8 text."]})
    return metadata


def parse_checksum(header: str) -> bytes | None:
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise ValidationError({"Upload-Checksum": ["Only sha256 is supported (Tus-Checksum-Algorithm)."]})
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 32:
        raise ValidationError({"Upload-Checksum": ["Not a base64 sha256 digest."]})
    return digest


def _non_negative(request, header: str) -> int:
    raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
    if not raw.isdigit() or len(raw) > 19:
        raise ValidationError({header: ["A non-negative integer is required."]})
    return int(raw)


# tus answers a missing or other Tus-Resumable with 412 Precondition Failed (tus 1.0.0, "Core").
WRONG_VERSION = OpenApiResponse(description="Tus-Resumable is missing or not 1.0.0.")


@extend_schema(tags=["uploads"], parameters=[
    OpenApiParameter("Tus-Resumable", str, OpenApiParameter.HEADER, required=True, enum=[TUS_VERSION]),
])
class TusUploadViewSet(TenantScopedViewSet):
    """Resumable uploads (tus 1.0.0). A finished upload becomes a file (`X-File-Id`)."""

    queryset = FileUploadSession.objects.all()
    action_policy = UPLOAD_ACTIONS
    owner_field = "created_by"
    pagination_class = None
    filter_backends = []
    parser_classes = []  # PATCH bodies are read as a stream, never parsed

    def get_permissions(self):
        if self.request.method == "OPTIONS":
            return []  # OPTIONS tells what the server speaks; it reveals nothing of any tenant
        return super().get_permissions()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.META.get("HTTP_TUS_RESUMABLE") != TUS_VERSION:
            raise UnsupportedTusVersion()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code == status.HTTP_412_PRECONDITION_FAILED:
            response["Tus-Version"] = TUS_VERSION
        return response

    def get_object(self):
        session = super().get_object()
        # Fully received is never expired: its file is being (or will be) assembled.
        if not session.is_complete and session.offset < session.length and session.expires_at <= timezone.now():
            raise NotFound("This upload has expired.")
        return session

    def _progress_headers(self, session: FileUploadSession) -> dict:
        headers = {"Upload-Offset": str(session.offset), "Cache-Control": "no-store"}
        if session.is_complete:
            headers["X-File-Id"] = str(session.file_id)
        else:
            headers["Upload-Expires"] = http_date(session.expires_at.timestamp())
        return headers

    @extend_schema(request=None, responses={204: OpenApiResponse(description="Tus-Version, Tus-Extension, …")})
    def discover(self, request, *args, **kwargs):
        return Response(status=status.HTTP_204_NO_CONTENT, headers={
            "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Checksum-Algorithm": "sha256", "Tus-Max-Size": str(settings.FILES_MAX_UPLOAD_BYTES),
        })

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("Upload-Length", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Metadata", str, OpenApiParameter.HEADER, description="filename <base64>"),
        ],
        responses={201: OpenApiResponse(description="Location: the upload's URL."),
                   412: WRONG_VERSION,
                   413: OpenApiResponse(description="Over Tus-Max-Size or the storage quota.")},
    )
    def create(self, request, *args, **kwargs):
        """Start an upload of `Upload-Length` bytes (reserved against the quota now)."""
        if "HTTP_UPLOAD_DEFER_LENGTH" in request.META:
            raise ValidationError({"Upload-Defer-Length": ["Not supported; send Upload-Length."]})
        length = _non_negative(request, "Upload-Length")
        metadata = parse_metadata(request.META.get("HTTP_UPLOAD_METADATA", ""))
        session = uploads.upload_session_create(
            tenant=self.tenant, length=length, name=metadata.get("filename", ""),
            created_by=self.actor(), actor=request.user,
        )
        location = request.build_absolute_uri(f"/api/v1/uploads/{session.pk}")
        return Response(status=status.HTTP_201_CREATED, headers={"Location": location,
                                                                 **self._progress_headers(session)})

    @extend_schema(request=None, responses={200: OpenApiResponse(description="Upload-Offset, Upload-Length."),
                                            412: WRONG_VERSION})
    def offset(self, request, *args, **kwargs):
        """Where the upload stands (HEAD): resume from `Upload-Offset`."""
        session = self.get_object()
        try:
            session = uploads.upload_session_recover(session=session)  # after a crash: finished now
        except Exception:  # e.g. the storage is down: the progress is still true; the next HEAD retries
            logger.exception("upload recovery failed", extra={"upload": str(session.pk)})
        return Response(status=status.HTTP_200_OK, headers={
            "Upload-Length": str(session.length), **self._progress_headers(session),
        })

    @extend_schema(
        request={PATCH_CONTENT_TYPE: bytes},
        parameters=[
            OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Checksum", str, OpenApiParameter.HEADER, description="sha256 <base64>"),
        ],
        responses={204: OpenApiResponse(description="Accepted; Upload-Offset is the new offset."),
                   409: OpenApiResponse(description="Upload-Offset is not the upload's offset."),
                   412: WRONG_VERSION,
                   460: OpenApiResponse(description="Checksum mismatch; the chunk was discarded.")},
    )
    def append(self, request, *args, **kwargs):
        """Send bytes from `Upload-Offset` (Content-Type application/offset+octet-stream)."""
        if request.content_type.split(";")[0].strip() != PATCH_CONTENT_TYPE:
            raise UnsupportedMediaType(request.content_type or "none", f"Send Content-Type: {PATCH_CONTENT_TYPE}.")
        offset = _non_negative(request, "Upload-Offset")
        checksum = parse_checksum(request.META.get("HTTP_UPLOAD_CHECKSUM", ""))
        try:
            body_length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ParseError("Invalid Content-Length header.")
        session = self.get_object()
        try:
            session = uploads.upload_session_append(session=session, offset=offset, body=request._request,
                                                    body_length=body_length, checksum=checksum)
        except uploads.ChecksumMismatch:
            raise ChecksumMismatch()
        return Response(status=status.HTTP_204_NO_CONTENT, headers=self._progress_headers(session))

    @extend_schema(request=None, responses={204: OpenApiResponse(description="Ended; partial bytes removed."),
                                            412: WRONG_VERSION})
    def terminate(self, request, *args, **kwargs):
        """End an upload (tus termination): its partial bytes go and its reserved quota is freed."""
        uploads.upload_session_terminate(session=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
