"""Views of the deployments API: thin — check, call a service or a selector, answer."""
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.tenancy import TenantScopedViewSet
from deployments import selectors, services
from deployments.api import serializers as s
from deployments.api.filters import DeploymentFilter, ProjectFilter
from deployments.api.permissions import DEPLOYMENT_ACTIONS, HOST_ACTIONS, PROJECT_ACTIONS, RECONCILE_ACTIONS
from deployments.models import Deployment, Host, Project
from orchestration.api.views import IDEMPOTENCY_HEADER, ExecutionRateLimited, IdempotentMixin

# A project's name in a path: wider than a DNS label, so a name that cannot exist answers as one
# that does not (403 to a refused caller, else 404); never NUL or other controls (PostgreSQL text).
NAME = r"[-\w]+"


class _CrudViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    create_service = update_service = delete_service = None

    def get_serializer_context(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no tenant
            return super().get_serializer_context()
        return {**super().get_serializer_context(), "tenant": self.tenant}

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = type(self).create_service(tenant=self.tenant, actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = type(self).update_service(serializer.instance, actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data)

    def destroy(self, request, *args, **kwargs):
        type(self).delete_service(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Deploy hosts"),
    create=extend_schema(summary="Add a host (its host key pinned)"),
    retrieve=extend_schema(summary="One host"),
    partial_update=extend_schema(summary="Change a host"),
    destroy=extend_schema(summary="Remove a host no project uses"),
)
@extend_schema(tags=["deployments"])
class HostViewSet(_CrudViewSet):
    queryset = Host.objects.all()
    serializer_class = s.HostSerializer
    action_policy = HOST_ACTIONS
    ordering_fields = ["name", "created_at"]
    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    @staticmethod
    def create_service(**kwargs):
        return services.host_create(**kwargs)

    @staticmethod
    def update_service(host, **kwargs):
        return services.host_update(host=host, **kwargs)

    @staticmethod
    def delete_service(host, **kwargs):
        services.host_delete(host=host, **kwargs)

    @extend_schema(summary="The tenant's deploy public key (install it in the hosts' authorized_keys)",
                   responses=s.DeployKeySerializer)
    @action(detail=False, methods=["get"], url_path="deploy-key")
    def deploy_key(self, request):
        return Response(s.DeployKeySerializer(services.deploy_key_get_or_create(tenant=self.tenant)).data)


@extend_schema_view(
    list=extend_schema(summary="Projects with their last deployment"),
    create=extend_schema(summary="Add a project"),
    retrieve=extend_schema(summary="One project"),
    partial_update=extend_schema(summary="Change a project (its deploy cluster follows)"),
    destroy=extend_schema(summary="Delete a project, its deploy cluster and history"),
)
@extend_schema(tags=["deployments"])
class ProjectViewSet(ExecutionRateLimited, IdempotentMixin, _CrudViewSet):
    queryset = Project.objects.all()
    serializer_class = s.ProjectSerializer
    action_policy = PROJECT_ACTIONS
    lookup_field = "name"
    lookup_value_regex = NAME
    filterset_class = ProjectFilter
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.project_list(tenant=self.tenant)

    @staticmethod
    def create_service(**kwargs):
        return services.project_create(**kwargs)

    @staticmethod
    def update_service(project, **kwargs):
        return services.project_update(project=project, **kwargs)

    @staticmethod
    def delete_service(project, **kwargs):
        services.project_delete(project=project, **kwargs)

    rate_limit_class = {"deploy": "execution"}  # only a deploy starts work

    @extend_schema(summary="Deploy the project (or join its one follow-up deploy)", request=None,
                   responses={202: s.DeploymentSerializer}, parameters=[IDEMPOTENCY_HEADER])
    @action(detail=True, methods=["post"])
    def deploy(self, request, name=None):
        project = self.get_object()

        def make() -> Response:
            self.require_broker()
            deployment = services.deployment_request(project=project, actor=request.user)
            return Response(s.DeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)

        return self.idempotent(f"projects/{project.pk}/deploy", make)


@extend_schema_view(
    list=extend_schema(summary="A project's deployments, newest first"),
    retrieve=extend_schema(summary="One deployment: who, when, config hash, status, run"),
)
@extend_schema(tags=["deployments"], parameters=[
    OpenApiParameter("project_name", OpenApiTypes.STR, OpenApiParameter.PATH, description="The project's name.")])
class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    queryset = Deployment.objects.none()  # get_queryset: the named project's, in the caller's tenant
    serializer_class = s.DeploymentSerializer
    action_policy = DEPLOYMENT_ACTIONS
    filterset_class = DeploymentFilter
    ordering_fields = ["created_at", "status"]
    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    def get_queryset(self):
        deployments = selectors.deployment_list(tenant=self.tenant, project_name=self.kwargs["project_name"])
        if deployments is None:
            raise Http404
        return deployments


@extend_schema(tags=["deployments"])
class ReconcileViewSet(ExecutionRateLimited, TenantScopedViewSet):
    queryset = Project.objects.none()
    serializer_class = s.ReconcileSerializer
    action_policy = RECONCILE_ACTIONS
    filter_backends: list = []

    @extend_schema(summary="Deploy every enabled project whose configuration changed since its last good deploy",
                   request=None, responses={202: s.ReconcileSerializer})
    def create(self, request):
        self.require_broker()
        result = services.reconcile(tenant=self.tenant, actor=request.user)
        return Response(s.ReconcileSerializer(result).data, status=status.HTTP_202_ACCEPTED)
