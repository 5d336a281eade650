"""Remote logs, stack status and restart (SPEC §4): viewers see status; operators also read logs
and restart (`OPERATE_STACKS`). Keys: `read` for status, `execute` for logs and restarts."""
from __future__ import annotations

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apikeys import access
from core.api.credential import presented_credential
from core.api.exceptions import ServiceUnavailable
from core.api.tenancy import TenantScopedViewSet
from deployments import remote, services, stacks, streaming
from deployments.api.views import NAME
from deployments.models import Project
from orchestration.api.follow import EventStreamRenderer
from orchestration.api.streams import AsyncHeldStream, HeldStream, StreamSlot
from tenants.policy import Action

STACK_ACTIONS = {"status": Action.READ, "logs": Action.OPERATE_STACKS, "restart": Action.OPERATE_STACKS}


class HostUnavailable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "HOST_UNAVAILABLE"
    default_detail = "The deploy host could not be reached or refused the command."


class LogQuerySerializer(serializers.Serializer):
    service = serializers.CharField(required=False, allow_blank=True, max_length=63)
    lines = serializers.IntegerField(required=False, min_value=1, default=100)
    follow = serializers.BooleanField(required=False, default=False)

    def validate_lines(self, value: int) -> int:
        if value > settings.DEPLOYMENTS_LOG_TAIL_MAX_LINES:
            raise ValidationError(f"At most {settings.DEPLOYMENTS_LOG_TAIL_MAX_LINES}.")
        return value


class LogTailSerializer(serializers.Serializer):
    project = serializers.CharField()
    service = serializers.CharField()
    source = serializers.ChoiceField(choices=["log_file", "docker compose logs"])
    lines = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False))
    truncated = serializers.BooleanField(help_text="Output beyond DEPLOYMENTS_LOG_MAX_BYTES was dropped (the oldest).")


class HealthSerializer(serializers.Serializer):
    url = serializers.CharField()
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class ServiceStateSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField(help_text="Compose's container state (running, exited, …), `absent` or `unknown`.")
    status = serializers.CharField(allow_blank=True)
    container_health = serializers.CharField(allow_null=True)
    healthcheck = HealthSerializer(allow_null=True)


class StackStatusSerializer(serializers.Serializer):
    project = serializers.CharField()
    host = serializers.CharField()
    reachable = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    services = ServiceStateSerializer(many=True)


class RestartRequestSerializer(serializers.Serializer):
    service = serializers.CharField(required=False, allow_blank=True, max_length=63,
                                    help_text="One service; without it every service, in order.")


class RestartResultSerializer(serializers.Serializer):
    service = serializers.CharField()
    ok = serializers.BooleanField()
    exit_status = serializers.IntegerField()
    stdout = serializers.CharField(allow_blank=True, trim_whitespace=False)
    stderr = serializers.CharField(allow_blank=True, trim_whitespace=False)
    duration_ms = serializers.IntegerField()


class RestartSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = RestartResultSerializer(many=True)


def _remote(call):
    """Run a remote read or write; its failures in the error envelope, never a 500."""
    try:
        return call()
    except stacks.UnknownService as exc:
        raise ValidationError({"service": [str(exc)]}) from exc
    except remote.RemotePathRefused as exc:
        raise ValidationError({"service": [f"Its log_file cannot be read: {exc}"]}) from exc
    except services.DeployKeyUnreadable as exc:
        raise ServiceUnavailable(str(exc)) from exc
    except remote.RemoteError as exc:
        raise HostUnavailable(str(exc)) from exc


@extend_schema(tags=["deployments"])
class StackViewSet(TenantScopedViewSet):
    """A project's services on its host, named by the project's name."""

    queryset = Project.objects.select_related("host", "tenant")
    serializer_class = StackStatusSerializer
    action_policy = STACK_ACTIONS
    lookup_field = "name"
    lookup_value_regex = NAME
    filter_backends: list = []
    rate_limit_class = {"restart": "execution"}  # a restart acts on the host

    @extend_schema(summary="State of each service of a project (compose state, container health, healthcheck_url)",
                   responses=StackStatusSerializer)
    @action(detail=True, methods=["get"])
    def status(self, request, name=None):
        report = _remote(lambda: stacks.stack_status(project=self.get_object()))
        return Response(StackStatusSerializer(report).data)

    @extend_schema(summary="Restart one service of a project, or all", request=RestartRequestSerializer,
                   responses=RestartSerializer)
    @action(detail=True, methods=["post"])
    def restart(self, request, name=None):
        project = self.get_object()
        body = RestartRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        service = body.validated_data.get("service") or None
        result = _remote(lambda: stacks.stack_restart(project=project, service_name=service, actor=request.user))
        return Response(RestartSerializer(result).data)

    @extend_schema(
        summary="A service's log: the last `lines` lines; `Accept: text/event-stream` follows it (bounded)",
        parameters=[
            OpenApiParameter("service", OpenApiTypes.STR, description="The service (optional if the project has one)."),
            OpenApiParameter("lines", OpenApiTypes.INT, description="How many of the last lines (default 100)."),
            OpenApiParameter("follow", OpenApiTypes.BOOL,
                             description="Follow (needs `Accept: text/event-stream`, which follows by itself)."),
        ],
        responses={200: LogTailSerializer},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, EventStreamRenderer])
    def logs(self, request, name=None):
        project = self.get_object()
        query = LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        service, lines = query.validated_data.get("service") or None, query.validated_data["lines"]
        if request.accepted_renderer.format != "event-stream":
            if query.validated_data["follow"]:
                raise ValidationError({"follow": ["Following needs `Accept: text/event-stream`."]})
            tail = _remote(lambda: stacks.log_tail(project=project, service_name=service, lines=lines))
            return Response(LogTailSerializer(tail).data)
        make = _remote(lambda: stacks.log_follow(project=project, service_name=service, lines=lines))
        credential, slug = presented_credential(request) or "", self.tenant.slug
        slot = StreamSlot(credential=credential, tenant_id=str(self.tenant.pk))
        slot.acquire()  # 429 over SSE_MAX_STREAMS_PER_CREDENTIAL / _PER_TENANT
        if isinstance(request._request, ASGIRequest):
            stream = AsyncHeldStream(streaming.afollow_events(
                make, lambda: access.still_allowed(credential, slug, action=Action.OPERATE_STACKS)), slot)
        else:
            stream = HeldStream(streaming.follow_events(make), slot)
        response = StreamingHttpResponse(stream, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
