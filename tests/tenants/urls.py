"""A tenant-scoped endpoint that names its tenant the usual way (header or only membership),
to test the shared tenant-context rules through HTTP, independent of any app's endpoints."""
from django.urls import include, path
from rest_framework import mixins, serializers

from core.api.routers import OptionalSlashRouter
from core.api.tenancy import TenantScopedViewSet
from tenants.models import Membership
from tenants.policy import Action


class ProbeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Membership
        fields = ["id", "role"]


class ProbeViewSet(TenantScopedViewSet, mixins.ListModelMixin, mixins.CreateModelMixin):
    queryset = Membership.objects.all()
    serializer_class = ProbeSerializer
    action_policy = {"list": Action.READ, "create": Action.ADMINISTER}

    def create(self, request, *args, **kwargs):
        from rest_framework.response import Response

        return Response({"tenant": self.tenant.slug}, status=201)


router = OptionalSlashRouter()
router.register("probe", ProbeViewSet, basename="probe")

urlpatterns = [path("api/v1/", include(router.urls)), path("", include("config.urls"))]
