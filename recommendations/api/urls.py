from core.api.routers import OptionalSlashRouter
from recommendations.api import views

router = OptionalSlashRouter()
router.register("items", views.ItemViewSet, basename="recommendation-item")
router.register("interactions", views.InteractionViewSet, basename="interaction")
router.register("recommendations", views.RecommendationViewSet, basename="recommendation")
router.register("recommendation-models", views.RecommendationModelViewSet, basename="recommendation-model")

urlpatterns = router.urls
