"""Views of the apikeys API: thin — validate with a serializer, call a service, answer."""
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.api.permissions import StaffModelPermissions
from apikeys import selectors, services
from apikeys.api import serializers as s
from apikeys.api.filters import ApiCallFilter, ApiKeyFilter
from apikeys.api.permissions import grantable_scopes
from apikeys.models import ApiCall, ApiKey
from core.api.pagination import TimeSeriesCursorPagination
from core.api.tenancy import TenantScopedViewSet
from tenants import services as tenant_services
from tenants.models import Plan
from tenants.policy import Action


@extend_schema(tags=["api-keys"])
class ApiKeyViewSet(
    TenantScopedViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
):
    """Tenant API keys. Admins and owners (or a key with the `admin` scope) manage them."""

    queryset = ApiKey.objects.select_related("created_by")
    serializer_class = s.ApiKeySerializer
    filterset_class = ApiKeyFilter
    ordering_fields = ["name", "created_at", "last_used_at", "expires_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_policy = {
        "list": Action.ADMINISTER, "retrieve": Action.ADMINISTER, "create": Action.ADMINISTER,
        "partial_update": Action.ADMINISTER, "destroy": Action.ADMINISTER, "rotate": Action.ADMINISTER,
    }

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request is not None and self.request.user.is_authenticated:
            context["grantable_scopes"] = grantable_scopes(self.get_tenant_context())
        return context

    def _input(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _with_secret(self, key: ApiKey, secret: str, code: int) -> Response:
        key.key = secret
        return Response(s.ApiKeyWithSecretSerializer(key).data, status=code)

    @extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyWithSecretSerializer})
    def create(self, request, *args, **kwargs):
        key, secret = services.api_key_create(
            tenant=self.tenant, created_by=self.actor(), actor=request.user, **self._input(s.ApiKeyCreateSerializer)
        )
        return self._with_secret(key, secret, status.HTTP_201_CREATED)

    @extend_schema(request=s.ApiKeyUpdateSerializer, responses={200: s.ApiKeySerializer})
    def partial_update(self, request, *args, **kwargs):
        key = self.get_object()
        key = services.api_key_update(key=key, actor=request.user, **self._input(s.ApiKeyUpdateSerializer))
        return Response(s.ApiKeySerializer(key).data)

    @extend_schema(responses={204: OpenApiResponse(description="Revoked; the key stops working at once.")})
    def destroy(self, request, *args, **kwargs):
        services.api_key_revoke(key=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.ApiKeyWithSecretSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, *args, **kwargs):
        """New secret (shown once); the old one stops working at once."""
        key = self.get_object()
        # Rotating hands out the key's secret: only someone who could have minted it may.
        if not set(key.scopes) <= grantable_scopes(self.get_tenant_context()):
            raise PermissionDenied("This key has scopes beyond your own rights.")
        key, secret = services.api_key_rotate(key=key, actor=request.user)
        return self._with_secret(key, secret, status.HTTP_200_OK)


@extend_schema(tags=["usage"])
class UsageViewSet(TenantScopedViewSet):
    """Request counts, errors and latency of the tenant, from the daily rollups.

    Routed as the `summary` action (not `list`): one object, not a paginated list."""

    queryset = ApiCall.objects.none()
    serializer_class = s.UsageSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="First day (YYYY-MM-DD); default 29 days before `to`."),
            OpenApiParameter("to", str, description="Last day (YYYY-MM-DD), inclusive; default today (UTC)."),
            OpenApiParameter("group_by", str, enum=["day", "endpoint", "api_key"], description="Default `day`."),
        ],
        responses={200: s.UsageSerializer},
    )
    def summary(self, request, *args, **kwargs):
        query = s.UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        return Response(selectors.usage_summary(
            tenant=self.tenant, start=params["from"], end=params["to"], group_by=params["group_by"]
        ))


class ApiCallPagination(TimeSeriesCursorPagination):
    ordering = "-created_at"


@extend_schema(tags=["usage"])
class ApiCallViewSet(TenantScopedViewSet, mixins.ListModelMixin):
    """Recent API calls of the tenant (raw rows, kept `USAGE_RAW_RETENTION_DAYS`)."""

    queryset = ApiCall.objects.all()
    serializer_class = s.ApiCallSerializer
    pagination_class = ApiCallPagination
    filterset_class = ApiCallFilter
    ordering_fields = ["created_at", "duration_ms", "status"]


@extend_schema(tags=["staff"])
class StaffPlanViewSet(viewsets.ModelViewSet):
    """`/api/admin/plans`: the rate plans tenants are put on (staff only)."""

    permission_classes = [StaffModelPermissions]
    queryset = Plan.objects.all()
    serializer_class = s.PlanSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_fields = ["slug"]
    ordering_fields = ["name", "slug", "created_at"]

    def perform_create(self, serializer) -> None:
        serializer.instance = tenant_services.plan_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer) -> None:
        tenant_services.plan_update(plan=serializer.instance, actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        tenant_services.plan_delete(plan=instance, actor=self.request.user)
