from django.urls import re_path

from apikeys.api import views
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")
router.register("analytics/api-calls", views.ApiCallViewSet, basename="api-call")

staff_router = OptionalSlashRouter()
staff_router.register("plans", views.StaffPlanViewSet, basename="staff-plan")

urlpatterns = [
    re_path(r"^usage/?$", views.UsageViewSet.as_view({"get": "summary"}), name="usage"),
    *router.urls,
]
staff_urlpatterns = staff_router.urls
