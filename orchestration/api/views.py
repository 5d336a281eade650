"""Orchestration API: satellites, executions, clusters, runs (with live logs), secrets,
agents and agent tasks. Views validate, call a service, and answer."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.db import IntegrityError, transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apikeys import access
from core.api.credential import presented_credential
from core.api.exceptions import Conflict, ServiceUnavailable
from core.api.pagination import TimeSeriesCursorPagination
from core.api.parsers import JSONParser
from core.api.tenancy import TenantScopedViewSet
from core.broker import check_broker
from orchestration import selectors, services
from orchestration.api import permissions as policy
from orchestration.api.filters import AgentFilter, AgentTaskFilter, ClusterFilter, ExecutionFilter, RunFilter
from orchestration.api.follow import EventStreamRenderer, afollow_run, follow_run
from orchestration.api.parsers import TextYAMLDefinitionParser, XYAMLDefinitionParser, YAMLDefinitionParser
from orchestration.api.serializers import (
    AgentSerializer,
    AgentTaskSerializer,
    ClusterSerializer,
    ClusterVersionSerializer,
    ClusterWriteSerializer,
    ExecuteSerializer,
    ExecutionSerializer,
    RunSerializer,
    SatelliteSerializer,
    SecretSerializer,
    SecretValueSerializer,
    StepLogSerializer,
    TriggerSerializer,
)
from orchestration.api.streams import AsyncHeldStream, HeldStream, StreamSlot
from orchestration.models import Agent, AgentTask, Cluster, Execution, Run, Secret
from orchestration.satellites import all_satellites, get_satellite, input_errors

logger = logging.getLogger("groundstation.orchestration")

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Repeat a request safely: the same key within 24 h returns the first response and starts nothing.",
)
BROKER_RETRY_AFTER_SECONDS = 10


class ExecutionRateLimited:
    """Marks endpoints that start work: the gateway limits them as the "execution" class
    (default 10/minute per tenant)."""

    rate_limit_class = "execution"

    @staticmethod
    def require_broker() -> None:
        """Refuse new work while the broker is down, before anything is saved: a 503 tells the
        client to retry, and the retry must not find the run already made. (A broker lost
        after this check only delays the run: it is saved, its steps wait `queued`, and the
        reaper sends them when the broker is back.)"""
        try:
            check_broker()
        except Exception as exc:  # whatever the transport raises: not ready to take work
            logger.warning("broker unreachable: work refused", extra={"error": type(exc).__name__})
            refused = ServiceUnavailable("The task queue is unavailable; nothing was started. Retry later.")
            refused.headers = {"Retry-After": str(BROKER_RETRY_AFTER_SECONDS)}
            raise refused from None


class IdempotentMixin:
    """`Idempotency-Key` support: the first response to (tenant, key, endpoint) is stored in the
    same transaction as the work it describes and replayed for 24 hours."""

    def idempotent(self, endpoint: str, make: Callable[[], Response]) -> Response:
        key = self.request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return make()
        if len(key) > 255 or not key.isprintable():
            raise ValidationError({"Idempotency-Key": ["Use at most 255 printable characters."]})
        body = json.dumps(self.request.data, sort_keys=True, default=str)
        fingerprint = hashlib.sha256(f"{endpoint}\n{body}".encode()).hexdigest()
        found = selectors.idempotency_record_get(tenant=self.tenant, key=key, endpoint=endpoint)
        if found is not None:
            return self._replay(found, fingerprint)
        try:
            with transaction.atomic():
                response = make()
                services.idempotency_record_save(
                    tenant=self.tenant,
                    key=key,
                    endpoint=endpoint,
                    fingerprint=fingerprint,
                    status_code=response.status_code,
                    body=json.loads(JSONRenderer().render(response.data)),
                )
        except IntegrityError:
            # A concurrent request with the same key committed first; ours rolled back.
            found = selectors.idempotency_record_get(tenant=self.tenant, key=key, endpoint=endpoint)
            if found is None:
                raise
            return self._replay(found, fingerprint)
        return response

    def _replay(self, record, fingerprint: str) -> Response:
        if record.fingerprint != fingerprint:
            raise Conflict("This Idempotency-Key was already used with a different request.")
        return Response(record.body, status=record.status_code, headers={"Idempotent-Replayed": "true"})


# --- Satellites and executions ----------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Built-in satellites", responses=SatelliteSerializer(many=True)),
    retrieve=extend_schema(summary="One satellite with its input and output schema", responses=SatelliteSerializer),
)
class SatelliteViewSet(TenantScopedViewSet):
    queryset = Execution.objects.none()
    serializer_class = SatelliteSerializer
    action_policy = policy.SATELLITES
    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9_.-]+"
    filter_backends: list = []

    def list(self, request):
        page = self.paginate_queryset(all_satellites())
        return self.get_paginated_response(SatelliteSerializer(page, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH)])
    def retrieve(self, request, name: str):
        sat = get_satellite(name)
        if sat is None:
            raise NotFound()
        return Response(SatelliteSerializer(sat).data)


class SatelliteExecuteViewSet(ExecutionRateLimited, IdempotentMixin, TenantScopedViewSet):
    queryset = Execution.objects.none()
    serializer_class = ExecuteSerializer
    action_policy = policy.EXECUTE
    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9_.-]+"
    filter_backends: list = []

    @extend_schema(
        summary="Execute a satellite (one-step execution)",
        request=ExecuteSerializer,
        responses={202: ExecutionSerializer},
        parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH), IDEMPOTENCY_HEADER],
    )
    @action(detail=True, methods=["post"])
    def execute(self, request, name: str):
        sat = get_satellite(name)
        if sat is None:
            raise NotFound()
        serializer = ExecuteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inputs = serializer.validated_data["inputs"]
        errors = input_errors(sat, inputs)
        if errors:
            raise ValidationError(errors)

        def make() -> Response:
            self.require_broker()
            run = services.execution_create(
                tenant=self.tenant,
                satellite=sat.name,
                inputs=inputs,
                timeout_seconds=serializer.validated_data.get("timeout_seconds"),
                actor=self.actor(),
            )
            run = selectors.execution_list(tenant=self.tenant).get(pk=run.pk)
            return Response(ExecutionSerializer(run).data, status=status.HTTP_202_ACCEPTED)

        return self.idempotent(f"satellites/{sat.name}/execute", make)


@extend_schema_view(
    list=extend_schema(summary="Executions of single satellites"),
    retrieve=extend_schema(summary="One execution: status, output, error, attempts, timings"),
)
class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    queryset = Execution.objects.prefetch_related("steps")
    serializer_class = ExecutionSerializer
    action_policy = policy.READ_ONLY
    filterset_class = ExecutionFilter
    ordering_fields = ["created_at", "started_at", "finished_at", "status"]


# --- Clusters -------------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Clusters (YAML-defined DAGs of satellites)"),
    retrieve=extend_schema(summary="One cluster with its current definition"),
    create=extend_schema(
        summary="Create a cluster",
        description='Send `application/yaml` (the definition itself) or JSON `{"definition": "…"}`. '
        "Invalid definitions answer 400 with every problem and its line in `details.definition`.",
        request={"application/json": ClusterWriteSerializer, "application/yaml": OpenApiTypes.STR},
        responses={201: ClusterSerializer},
    ),
    update=extend_schema(
        summary="Replace the definition (creates a new version)",
        request={"application/json": ClusterWriteSerializer, "application/yaml": OpenApiTypes.STR},
        responses=ClusterSerializer,
    ),
    destroy=extend_schema(summary="Delete a cluster, its schedule and its runs"),
)
class ClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantScopedViewSet):
    queryset = Cluster.objects.all()
    serializer_class = ClusterSerializer
    action_policy = policy.CLUSTERS
    owner_field = "created_by"
    filterset_class = ClusterFilter
    ordering_fields = ["name", "created_at", "updated_at", "version"]
    parser_classes = [JSONParser, YAMLDefinitionParser, XYAMLDefinitionParser, TextYAMLDefinitionParser]

    def _definition(self) -> str:
        serializer = ClusterWriteSerializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["definition"]

    def create(self, request):
        cluster = services.cluster_create(tenant=self.tenant, definition=self._definition(), actor=self.actor())
        return Response(ClusterSerializer(cluster).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None):
        cluster = self.get_object()
        cluster = services.cluster_update(cluster=cluster, definition=self._definition(), actor=self.actor())
        return Response(ClusterSerializer(cluster).data)

    def perform_destroy(self, instance: Cluster) -> None:
        services.cluster_delete(cluster=instance, actor=self.actor())

    @extend_schema(
        summary="Every version of the definition, newest first", responses=ClusterVersionSerializer(many=True)
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def versions(self, request, pk=None):
        cluster = self.get_object()
        page = self.paginate_queryset(cluster.versions.all())
        return self.get_paginated_response(ClusterVersionSerializer(page, many=True).data)


class ClusterTriggerViewSet(ExecutionRateLimited, IdempotentMixin, TenantScopedViewSet):
    queryset = Cluster.objects.all()
    serializer_class = TriggerSerializer
    action_policy = policy.EXECUTE
    filter_backends: list = []

    @extend_schema(
        summary="Trigger a run",
        description="409 when the cluster's concurrency limit is reached and its policy is `reject`.",
        responses={202: RunSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @action(detail=True, methods=["post"])
    def trigger(self, request, pk=None):
        cluster = self.get_object()
        serializer = TriggerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def make() -> Response:
            self.require_broker()
            run = services.run_trigger(cluster=cluster, inputs=serializer.validated_data["inputs"], actor=self.actor())
            run = selectors.run_list(tenant=self.tenant).get(pk=run.pk)
            return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

        return self.idempotent(f"clusters/{cluster.pk}/trigger", make)


# --- Runs -----------------------------------------------------------------------------------------
class LogPagination(TimeSeriesCursorPagination):
    ordering = "id"
    page_size = 200


@extend_schema_view(
    list=extend_schema(summary="Runs of clusters"),
    retrieve=extend_schema(summary="One run with its steps"),
)
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    queryset = Run.objects.filter(kind=Run.Kind.CLUSTER).prefetch_related("steps")
    serializer_class = RunSerializer
    action_policy = policy.RUNS
    filterset_class = RunFilter
    ordering_fields = ["created_at", "started_at", "finished_at", "status"]

    @extend_schema(summary="Cancel a run", request=None, responses=RunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = services.run_cancel(run=self.get_object(), actor=self.actor())
        return Response(RunSerializer(self.get_queryset().get(pk=run.pk)).data)

    @extend_schema(
        summary="Step logs; `Accept: text/event-stream` follows them live until the run ends",
        parameters=[
            OpenApiParameter("step_id", OpenApiTypes.STR, description="Only this step's lines."),
            OpenApiParameter("after", OpenApiTypes.INT, description="Only lines after this id."),
        ],
        responses={200: StepLogSerializer(many=True)},
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer, EventStreamRenderer],
        pagination_class=LogPagination,
        filter_backends=[],
    )
    def logs(self, request, pk=None):
        run = self.get_object()
        try:
            after = int(request.query_params.get("after") or request.headers.get("Last-Event-ID") or 0)
        except ValueError:
            raise ValidationError({"after": ["Must be an integer."]})
        if request.accepted_renderer.format == "event-stream":
            stream = afollow_run if isinstance(request._request, ASGIRequest) else follow_run
            credential, slug = presented_credential(request), self.tenant.slug
            slot = StreamSlot(credential=credential or "", tenant_id=str(self.tenant.pk))
            slot.acquire()  # 429 over SSE_MAX_STREAMS_PER_CREDENTIAL / _PER_TENANT
            held = AsyncHeldStream if stream is afollow_run else HeldStream
            response = StreamingHttpResponse(
                held(stream(run.pk, after, lambda: access.still_allowed(credential, slug)), slot),
                content_type="text/event-stream",
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"  # let proxies pass events through at once
            return response
        logs = selectors.step_log_list(run=run, after_id=after, step_id=request.query_params.get("step_id"))
        page = self.paginate_queryset(logs)
        return self.get_paginated_response(StepLogSerializer(page, many=True).data)


class RunRetryViewSet(ExecutionRateLimited, TenantScopedViewSet):
    queryset = Run.objects.filter(kind=Run.Kind.CLUSTER)
    serializer_class = RunSerializer
    action_policy = policy.EXECUTE
    filter_backends: list = []

    @extend_schema(
        summary="Re-run from the failed steps, reusing succeeded outputs", request=None, responses={202: RunSerializer}
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        run = self.get_object()
        self.require_broker()
        run = services.run_retry(run=run, actor=self.actor())
        run = Run.objects.prefetch_related("steps").get(pk=run.pk)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


# --- Secrets, agents, tasks -----------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Secret names (values are never returned)"),
    create=extend_schema(summary="Create a secret for ${{ secrets.NAME }}", responses={201: SecretSerializer}),
    retrieve=extend_schema(summary="One secret's metadata"),
    update=extend_schema(summary="Replace a secret's value", request=SecretValueSerializer, responses=SecretSerializer),
    destroy=extend_schema(summary="Delete a secret"),
)
class SecretViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantScopedViewSet):
    queryset = Secret.objects.all()
    serializer_class = SecretSerializer
    action_policy = policy.SECRETS
    lookup_field = "name"
    ordering_fields = ["name", "created_at", "updated_at"]
    filterset_fields = ["name"]

    def create(self, request):
        serializer = SecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        if self.get_queryset().filter(name=name).exists():
            raise Conflict(f"A secret named {name!r} already exists; PUT /secrets/{name} to replace it.")
        secret = services.secret_set(
            tenant=self.tenant, name=name, value=serializer.validated_data["value"], actor=self.actor()
        )
        return Response(SecretSerializer(secret).data, status=status.HTTP_201_CREATED)

    def update(self, request, name=None):
        secret = self.get_object()
        serializer = SecretValueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = services.secret_set(
            tenant=self.tenant, name=secret.name, value=serializer.validated_data["value"], actor=self.actor()
        )
        return Response(SecretSerializer(secret).data)

    def perform_destroy(self, instance: Secret) -> None:
        services.secret_delete(secret=instance, actor=self.actor())


@extend_schema_view(
    list=extend_schema(summary="Agents"),
    create=extend_schema(summary="Create an agent"),
    retrieve=extend_schema(summary="One agent"),
    update=extend_schema(summary="Replace an agent"),
    partial_update=extend_schema(summary="Change an agent"),
    destroy=extend_schema(summary="Delete an agent (its tasks are kept)"),
)
class AgentViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    queryset = Agent.objects.all()
    serializer_class = AgentSerializer
    action_policy = policy.AGENTS
    owner_field = "created_by"
    filterset_class = AgentFilter
    ordering_fields = ["name", "created_at", "updated_at"]

    def perform_create(self, serializer) -> None:
        serializer.instance = services.agent_create(tenant=self.tenant, actor=self.actor(), **serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = services.agent_update(
            agent=serializer.instance, actor=self.actor(), **serializer.validated_data
        )

    def perform_destroy(self, instance: Agent) -> None:
        services.agent_delete(agent=instance, actor=self.actor())


@extend_schema_view(
    list=extend_schema(summary="Agent tasks"),
    create=extend_schema(summary="Create a task: runs the agent (pending → processing → completed|failed)"),
    retrieve=extend_schema(summary="One task with its result"),
)
class AgentTaskViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    queryset = AgentTask.objects.select_related("agent")
    serializer_class = AgentTaskSerializer
    action_policy = policy.TASKS
    rate_limit_class = {"create": "execution"}  # it starts work (EXECUTION_RATE_LIMIT)
    owner_field = "created_by"
    filterset_class = AgentTaskFilter
    ordering_fields = ["created_at", "status", "finished_at"]

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        agent = selectors.agent_get(tenant=self.tenant, id=data["agent_id"])
        if agent is None:
            raise ValidationError({"agent_id": ["Unknown agent."]})
        ExecutionRateLimited.require_broker()
        serializer.instance = services.agent_task_create(
            tenant=self.tenant,
            agent=agent,
            title=data["title"],
            description=data.get("description", ""),
            input=data.get("input"),
            actor=self.actor(),
        )
