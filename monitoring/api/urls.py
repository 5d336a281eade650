from core.api.routers import OptionalSlashRouter
from monitoring.api import views

router = OptionalSlashRouter()
router.register("nodes", views.NodeViewSet, basename="node")
router.register("node-groups", views.NodeGroupViewSet, basename="node-group")
router.register("status", views.StatusViewSet, basename="status")
router.register("statistics", views.StatisticsViewSet, basename="statistics")
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("alert-channels", views.AlertChannelViewSet, basename="alert-channel")
router.register("maintenance-windows", views.MaintenanceWindowViewSet, basename="maintenance-window")

urlpatterns = router.urls
