"""URLs used only by the envelope tests to force a 500 from DRF and from plain Django."""
from django.urls import path
from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as base_urlpatterns


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def drf_boom(request):
    raise RuntimeError("SELECT secret FROM boom -- must never reach the client")


def django_boom(request):
    raise RuntimeError("SELECT secret FROM boom -- must never reach the client")


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def needs_db(request):
    from accounts.models import User

    return Response({"users": User.objects.count()})


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def data_error(request):
    from django.db import DataError

    raise DataError("time zone displacement out of range")


class Echo(APIView):
    authentication_classes = []
    permission_classes = []

    def post(self, request):
        return Response({"received": request.data})


@method_decorator(ratelimit(key="ip", rate="2/m", block=True), name="post")
class Limited(Echo):
    pass


urlpatterns = [
    path("boom/drf", drf_boom),
    path("boom/django", django_boom),
    path("echo", Echo.as_view()),
    path("needs-db", needs_db),
    path("data-error", data_error),
    path("limited", Limited.as_view()),
    *base_urlpatterns,
]
