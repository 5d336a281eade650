from core.api.routers import OptionalSlashRouter
from orchestration.api import views

router = OptionalSlashRouter()
router.register("satellites", views.SatelliteViewSet, basename="satellite")
router.register("satellites", views.SatelliteExecuteViewSet, basename="satellite-execute")
router.register("executions", views.ExecutionViewSet, basename="execution")
router.register("clusters", views.ClusterViewSet, basename="cluster")
router.register("clusters", views.ClusterTriggerViewSet, basename="cluster-trigger")
router.register("runs", views.RunViewSet, basename="run")
router.register("runs", views.RunRetryViewSet, basename="run-retry")
router.register("secrets", views.SecretViewSet, basename="secret")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("tasks", views.AgentTaskViewSet, basename="task")

urlpatterns = router.urls
