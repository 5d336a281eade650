from django.urls import re_path

from core.api.routers import OptionalSlashRouter
from deployments.api import views

router = OptionalSlashRouter()
router.register("hosts", views.HostViewSet, basename="host")
router.register("projects", views.ProjectViewSet, basename="project")

UUID = r"[0-9a-fA-F-]{36}"
history = views.DeploymentViewSet

urlpatterns = [
    re_path(rf"^projects/(?P<project_name>{views.NAME})/deployments/?$", history.as_view({"get": "list"}),
            name="project-deployment-list"),
    re_path(rf"^projects/(?P<project_name>{views.NAME})/deployments/(?P<pk>{UUID})/?$",
            history.as_view({"get": "retrieve"}), name="project-deployment-detail"),
    re_path(r"^reconcile/?$", views.ReconcileViewSet.as_view({"post": "create"}), name="reconcile"),
    *router.urls,
]
