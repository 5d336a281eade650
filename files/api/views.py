"""Views of the files API: thin — check, call a service or a selector, answer."""
import uuid

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from apikeys.authentication import ApiKeyPrincipal
from core.api.client_ip import client_ip
from core.api.pagination import TimeSeriesCursorPagination
from core.api.tenancy import TenantScopedViewSet
from files import downloads, selectors, services
from files.api import serializers as s
from files.api.filters import FileFilter
from files.api.parsers import HashingMultiPartParser
from files.api.permissions import FILE_ACTIONS, SHARE_ACTIONS
from files.models import File, FileAccessLog, FileShare
from tenants.policy import Role


def accessor_for(request) -> downloads.Accessor:
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return downloads.Accessor(via=FileAccessLog.Via.API_KEY, ip=client_ip(request), api_key_id=user.key_id)
    return downloads.Accessor(via=FileAccessLog.Via.MEMBER, ip=client_ip(request), user_id=user.pk)


class AccessLogPagination(TimeSeriesCursorPagination):
    ordering = ("-at", "-id")


@extend_schema(tags=["files"])
class FileViewSet(TenantScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The tenant's files. Big files go through resumable uploads (`/api/v1/uploads`, tus)."""

    queryset = File.objects.select_related("created_by")
    serializer_class = s.FileSerializer
    filterset_class = FileFilter
    ordering_fields = ["name", "size", "created_at"]
    http_method_names = ["get", "post", "delete", "head", "options"]
    action_policy = FILE_ACTIONS
    owner_field = "created_by"

    def get_parsers(self):
        # Called before DRF sets `self.action`; the Django request (set by `setup`) tells.
        request = getattr(self, "request", None)
        if request is not None and getattr(self, "action_map", {}).get(request.method.lower()) == "create":
            return [HashingMultiPartParser()]
        return super().get_parsers()

    @extend_schema(
        request={"multipart/form-data": s.FileUploadSerializer},
        responses={201: s.FileSerializer, 413: OpenApiResponse(description="Over the size limit or the quota.")},
    )
    def create(self, request, *args, **kwargs):
        """Upload one file (multipart field `file`, up to `FILES_MAX_SIMPLE_UPLOAD_BYTES`)."""
        uploaded = request.FILES.getlist("file")
        if len(uploaded) != 1:
            raise ValidationError({"file": ["Send exactly one file, in the multipart field `file`."]})
        file = services.file_create(tenant=self.tenant, upload=uploaded[0], created_by=self.actor(),
                                    actor=request.user)
        return Response(s.FileSerializer(file).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted, bytes included; the quota is freed.")})
    def destroy(self, request, *args, **kwargs):
        services.file_delete(file=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("Range", str, OpenApiParameter.HEADER,
                                     description="bytes=0-99, or several: bytes=0-9,20-29 (multipart/byteranges).")],
        responses={
            # The type detected from the file's bytes (never one a browser would render).
            (200, "*/*"): OpenApiTypes.BINARY,
            (206, "*/*"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="If-None-Match matched the ETag."),
            416: OpenApiResponse(description="The range is malformed or past the end."),
        },
    )
    @action(detail=True, methods=["get"])
    def content(self, request, *args, **kwargs):
        """The bytes, streamed, as an attachment (`ETag` is the sha256)."""
        return downloads.download_response(request, self.get_object(), accessor_for(request))

    @extend_schema(responses={200: s.FileAccessLogSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="access-log", pagination_class=AccessLogPagination,
            filter_backends=[])
    def access_log(self, request, *args, **kwargs):
        """Every download of this file, newest first: who (member, API key or share), from where, how much."""
        file = self.get_object()
        services.access_log_catch_up()  # rows still buffered are written first: nothing ended is missing
        rows = selectors.file_access_log_list(tenant=self.tenant, file=file)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.FileAccessLogSerializer(page, many=True).data)


def _uuid_or_404(value: str) -> uuid.UUID:
    # The URL pattern admits 36 hex digits and dashes, not all of which are UUIDs.
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404 from None


@extend_schema(tags=["files"])
class FileShareViewSet(TenantScopedViewSet, mixins.ListModelMixin):
    """Public links to one file (`/s/{token}`): expiring, counted, revocable."""

    queryset = FileShare.objects.select_related("created_by")
    serializer_class = s.FileShareSerializer
    ordering_fields = ["created_at", "expires_at", "downloads"]
    filter_backends = []
    action_policy = SHARE_ACTIONS
    owner_field = "created_by"

    def get_file(self) -> File:
        return get_object_or_404(selectors.file_list(tenant=self.tenant), pk=_uuid_or_404(self.kwargs["file_pk"]))

    def get_queryset(self):
        return super().get_queryset().filter(file=self.get_file())

    def get_object(self):
        share = get_object_or_404(self.get_queryset(), pk=_uuid_or_404(self.kwargs["pk"]))
        self.check_object_permissions(self.request, share)
        return share

    @extend_schema(request=s.FileShareCreateSerializer, responses={201: s.FileShareWithUrlSerializer})
    def create(self, request, *args, **kwargs):
        file = self.get_file()
        context = self.get_tenant_context()
        # Publishing a file is managing it: a member shares only what they uploaded.
        if not context.is_key and context.role == Role.MEMBER and file.created_by_id != request.user.pk:
            raise PermissionDenied("Members share only files they uploaded.")
        data = s.FileShareCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        share, token = services.share_create(file=file, created_by=self.actor(), actor=request.user,
                                             **data.validated_data)
        share.url = request.build_absolute_uri(f"/s/{token}")
        return Response(s.FileShareWithUrlSerializer(share).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: OpenApiResponse(description="Revoked; the link stops working at once.")})
    def destroy(self, request, *args, **kwargs):
        services.share_revoke(share=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
