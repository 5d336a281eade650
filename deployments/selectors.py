"""Reads of the deployments app (scoped to a tenant)."""
from django.db.models import OuterRef, QuerySet, Subquery

from deployments.models import Deployment, Host, Project


def host_get(*, tenant_id, name: str) -> Host | None:
    return Host.objects.filter(tenant_id=tenant_id, name=name).select_related("tenant").first()


def _with_last_deployment(projects: QuerySet) -> QuerySet:
    last = Deployment.objects.filter(project=OuterRef("pk")).order_by("-created_at")
    return projects.select_related("host").annotate(last_deployment_id=Subquery(last.values("pk")[:1]),
                                                    last_deployment_status=Subquery(last.values("status")[:1]))


def project_list(*, tenant) -> QuerySet:
    """Projects with their host and their last deployment's id and status (one query)."""
    return _with_last_deployment(Project.objects.for_tenant(tenant))


def project_list_all() -> QuerySet:
    """Every tenant's projects, for the operators' console."""
    return _with_last_deployment(Project.objects.select_related("tenant"))


def deployment_list(*, tenant, project_name: str) -> QuerySet | None:
    """A project's deployments, newest first; None when the tenant has no such project."""
    project = Project.objects.for_tenant(tenant).filter(name=project_name).first()
    if project is None:
        return None
    return Deployment.objects.filter(project=project).select_related("project")
