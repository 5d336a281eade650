"""The three reference endpoints: bare Django JSON, bare DRF list, the "typical stack" list."""
import hashlib

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit
from rest_framework import authentication, exceptions, generics, pagination, permissions, serializers

from bench.reference.models import ApiKey, Item, RequestLog


def bare_json(request):
    return JsonResponse({"status": "ok"})


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name", "address", "port", "status", "interval_seconds", "created_at", "updated_at"]


class Pages(pagination.PageNumberPagination):
    page_size = 20


class BareList(generics.ListAPIView):
    queryset = Item.objects.order_by("id")
    serializer_class = ItemSerializer
    pagination_class = Pages


class KeyAuthentication(authentication.BaseAuthentication):
    """The key looked up in PostgreSQL on every request, by its SHA-256 digest."""

    def authenticate(self, request):
        raw = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not raw:
            return None
        key = ApiKey.objects.filter(digest=hashlib.sha256(raw.encode()).hexdigest(), active=True).first()
        if key is None:
            raise exceptions.AuthenticationFailed("bad key")
        return (None, key)


class HasKey(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.auth is not None


@method_decorator(ratelimit(key="header:authorization", rate="1000000/m", block=True), name="dispatch")
class TypicalList(BareList):
    authentication_classes = [KeyAuthentication]
    permission_classes = [HasKey]

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        RequestLog.objects.create(key=request.auth, path=request.path, status=response.status_code)
        return response
