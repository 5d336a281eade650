from apikeys.api import views
from config.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")
router.register("usage", views.UsageViewSet, basename="usage")
router.register("analytics/api-calls", views.ApiCallViewSet, basename="api-call")

staff_router = OptionalSlashRouter()
staff_router.register("plans", views.StaffPlanViewSet, basename="staff-plan")

urlpatterns = router.urls
staff_urlpatterns = staff_router.urls
