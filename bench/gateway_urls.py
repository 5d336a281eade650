"""Three targets on one server (see bench/gateway.py):

(a) `/bench/bare`: a bare DRF view, no authentication, no gateway;
(b) `/api/v1/api-keys`: the real tenant-scoped list (20 rows) through API-key authentication,
    rate limits and metering;
(c) `/api/v1/bench-keys?tenant=<slug>`: the same queryset, serializer and pagination with
    authentication, limits and metering switched off (the tenant looked up by slug, as the
    tenancy layer does).
"""
from django.urls import include, path, re_path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.api.views import ApiKeyViewSet
from config.urls import urlpatterns as platform_urlpatterns
from core.api.tenancy import TenantContext
from tenants.models import Tenant


class Bare(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


class KeysWithoutGateway(ApiKeyViewSet):
    """The very viewset of (b) — same queryset, filters, serializer, pagination — with
    authentication, the policy check, limits and metering off; the tenant comes by slug."""

    authentication_classes = []
    permission_classes = [AllowAny]
    gateway_exempt = True

    def get_permissions(self):
        # The base adds the tenant policy's classes (TENANT_PERMISSION_CLASSES) on top of
        # permission_classes; here there is no caller to check.
        return [AllowAny()]

    def get_tenant_context(self) -> TenantContext:
        tenant = Tenant.objects.filter(slug=self.request.query_params["tenant"]).first()
        return TenantContext(tenant=tenant, role="owner")


urlpatterns = [
    re_path(r"^bench/bare/?$", Bare.as_view()),
    re_path(r"^api/v1/bench-keys/?$", KeysWithoutGateway.as_view({"get": "list"})),
    path("", include(platform_urlpatterns)),
]
