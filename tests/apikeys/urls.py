"""The real URL map plus two probe views: a bare authenticated view (nothing but the gateway
and authentication run, so queries counted are the gateway's) and an execution-class view."""
from django.urls import re_path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as platform_urlpatterns


class Probe(APIView):
    def get(self, request):
        return Response({"ok": True})


class ExecuteProbe(APIView):
    rate_limit_class = "execution"

    def post(self, request):
        return Response({"started": True}, status=202)


class ClosedProbe(APIView):
    rate_limit_fail_open = False

    def get(self, request):
        return Response({"ok": True})


class ExemptProbe(APIView):
    gateway_exempt = True

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    re_path(r"^api/v1/probe/exempt/?$", ExemptProbe.as_view()),
    re_path(r"^api/v1/probe/?$", Probe.as_view()),
    re_path(r"^api/v1/probe/execute/?$", ExecuteProbe.as_view()),
    re_path(r"^api/v1/probe/closed/?$", ClosedProbe.as_view()),
    *platform_urlpatterns,
]
