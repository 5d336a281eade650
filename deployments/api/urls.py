from django.urls import re_path

from core.api.routers import OptionalSlashRouter
from deployments.api import stacks, views

router = OptionalSlashRouter()
router.register("hosts", views.HostViewSet, basename="host")
router.register("projects", views.ProjectViewSet, basename="project")
router.register("stacks", stacks.StackViewSet, basename="stack")

UUID = r"[0-9a-fA-F-]{36}"
history = views.DeploymentViewSet

urlpatterns = [
    re_path(rf"^projects/(?P<project_name>{views.NAME})/deployments/?$", history.as_view({"get": "list"}),
            name="project-deployment-list"),
    re_path(rf"^projects/(?P<project_name>{views.NAME})/deployments/(?P<pk>{UUID})/?$",
            history.as_view({"get": "retrieve"}), name="project-deployment-detail"),
    # The action's own settings (its event-stream renderer), as the router would pass them.
    re_path(rf"^projects/(?P<name>{views.NAME})/logs/?$",
            stacks.StackViewSet.as_view({"get": "logs"}, **stacks.StackViewSet.logs.kwargs), name="project-logs"),
    re_path(r"^reconcile/?$", views.ReconcileViewSet.as_view({"post": "create"}), name="reconcile"),
    *router.urls,
]
