from config.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()

urlpatterns = router.urls
