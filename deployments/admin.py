"""The operators' pages for deployments: hosts (the tenant's public deploy key shown, the host-key
pin, trust-on-first-use set only here), projects with their last deployment and a deploy action
behind a confirmation, the deployment history with a link to each run's step logs, and the
deploy keys (public half only). Writes go through the services, checked as the API checks them."""
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from core.admin import CappedPaginator, DeleteThroughService, RecordAdmin, apply_each, confirm_first, may_change
from deployments import selectors, services
from deployments.api.serializers import HostSerializer, ProjectSerializer
from deployments.models import DeployKey, Deployment, Host, Project

HOST_FIELDS = ["name", "address", "port", "username", "host_key"]
PROJECT_FIELDS = ["name", "directory", "repository", "branch", "services", "deploy_steps", "enabled",
                  "timeout_seconds"]


def _api_check(serializer_class, form: forms.ModelForm, data: dict, tenant=None) -> dict:
    """Run the API serializer's checks over the form's values; its errors land on the fields.
    Partial: the form itself requires what the model requires."""
    serializer = serializer_class(instance=form.instance if form.instance.pk else None, data=data, partial=True,
                                  context={"tenant": tenant})
    if serializer.is_valid():
        return serializer.validated_data
    for field, problems in serializer.errors.items():
        messages_ = [str(p) for p in problems] if isinstance(problems, list) else [str(problems)]
        form.add_error(field if field in form.fields else None, messages_)
    return {}


class HostForm(forms.ModelForm):
    class Meta:
        model = Host
        fields = ["tenant", *HOST_FIELDS, "trust_on_first_use"]
        widgets = {"host_key": forms.Textarea(attrs={"rows": 3, "cols": 90, "style": "font-family:monospace"})}

    def clean(self):
        data = super().clean()
        tofu = data.get("trust_on_first_use")
        if tofu and data.get("host_key"):
            raise ValidationError("Trust on first use is for a host without a pin: clear the host key, or the flag.")
        values = {field: data[field] for field in HOST_FIELDS if data.get(field) not in (None, "")}
        if tofu:
            values.pop("host_key", None)
        if not tofu and not data.get("host_key"):
            self.add_error("host_key", "Pin the host's key (or, knowingly, trust it on first use).")
        checked = _api_check(HostSerializer, self, values)
        self.service_fields = {**checked, "trust_on_first_use": bool(tofu)}
        if tofu:
            self.service_fields["host_key"] = ""
        return data


@admin.register(Host)
class HostAdmin(DeleteThroughService, admin.ModelAdmin):
    form = HostForm
    list_display = ["name", "tenant", "address", "port", "username", "pinned", "trust_on_first_use", "updated_at"]
    list_filter = ["trust_on_first_use", "tenant"]
    search_fields = ["name", "address", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["deploy_public_key"]

    def get_fields(self, request, obj=None):
        fields = ["tenant", *HOST_FIELDS, "trust_on_first_use"]
        return [*fields, "deploy_public_key"] if obj else fields

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", "deploy_public_key"] if obj else []

    @admin.display(description="host key pinned", boolean=True)
    def pinned(self, obj: Host) -> bool:
        return bool(obj.host_key)

    @admin.display(description="the tenant's deploy key (install in authorized_keys)")
    def deploy_public_key(self, obj: Host):
        key = services.deploy_key_get_or_create(tenant=obj.tenant)
        return format_html('<pre style="white-space:pre-wrap">{}</pre>{}', key.public_key, key.fingerprint)

    def save_model(self, request, obj, form, change):
        fields = form.service_fields
        if change:
            saved = services.host_update(host=obj, actor=request.user, **fields)
        else:
            saved = services.host_create(tenant=obj.tenant, actor=request.user, **fields)
        obj.pk = saved.pk

    def delete_through_service(self, obj, actor):
        services.host_delete(host=obj, actor=actor)

    def delete_queryset(self, request, queryset):
        apply_each(self, request, queryset, "Deleted", lambda host: services.host_delete(host=host, actor=request.user))


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["tenant", "host", *PROJECT_FIELDS]

    def clean(self):
        data = super().clean()
        tenant = data.get("tenant") or getattr(self.instance, "tenant", None)
        values = {field: data[field] for field in PROJECT_FIELDS if field in data}
        if data.get("host") is not None:
            values["host"] = data["host"].name
            if tenant is not None and data["host"].tenant_id != tenant.pk:
                self.add_error("host", "The host belongs to another tenant.")
        self.service_fields = _api_check(ProjectSerializer, self, values, tenant)
        return data


@admin.register(Project)
class ProjectAdmin(DeleteThroughService, admin.ModelAdmin):
    form = ProjectForm
    list_display = ["name", "tenant", "host", "enabled", "last_deployment", "short_hash", "updated_at"]
    list_filter = ["enabled", "tenant"]
    search_fields = ["name", "tenant__slug", "host__name"]
    list_select_related = ["tenant", "host"]
    actions = ["deploy"]

    def get_queryset(self, request):
        return selectors.project_list_all()

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", "config_hash", "cluster"] if obj else []

    @admin.display(description="last deployment", ordering="last_deployment_status")
    def last_deployment(self, obj: Project):
        if obj.last_deployment_id is None:
            return "—"
        url = reverse("admin:deployments_deployment_change", args=[obj.last_deployment_id])
        return format_html('<a href="{}">{}</a>', url, obj.last_deployment_status)

    @admin.display(description="config hash")
    def short_hash(self, obj: Project) -> str:
        return obj.config_hash[:12]

    def save_model(self, request, obj, form, change):
        fields = form.service_fields
        if change:
            saved = services.project_update(project=obj, actor=request.user, **fields)
        else:
            saved = services.project_create(tenant=obj.tenant, actor=request.user, **fields)
        obj.pk = saved.pk

    def delete_through_service(self, obj, actor):
        services.project_delete(project=obj, actor=actor)

    def has_deploy_permission(self, request) -> bool:
        return may_change(request, self.model)

    @admin.action(description="Deploy the selected projects", permissions=["deploy"])
    @confirm_first("Deploy these projects? Their deploy steps run on their hosts now (or as the follow-up of a "
                   "deploy under way).", verb="deploy them")
    def deploy(self, request, queryset):
        apply_each(self, request, queryset, "Deploy requested for", lambda project: services.deployment_request(
            project=project, actor=request.user, trigger=Deployment.Trigger.ADMIN))


@admin.register(Deployment)
class DeploymentAdmin(RecordAdmin):
    list_display = ["created_at", "project", "tenant", "status", "requested_by", "trigger", "requests", "run_link",
                    "short_hash", "finished_at"]
    list_filter = ["status", "trigger"]
    search_fields = ["project__name", "tenant__slug", "requested_by", "id"]
    list_select_related = ["project", "tenant"]
    paginator = CappedPaginator
    show_full_result_count = False
    readonly_fields = ["id", "tenant", "project", "status", "run_link", "config_hash", "requested_by", "trigger",
                       "requests", "error", "incident_id", "created_at", "started_at", "finished_at", "deadline_at"]
    fields = readonly_fields

    @admin.display(description="run (step logs)")
    def run_link(self, obj: Deployment):
        if obj.run_id is None:
            return "— (follow-up, waiting)"
        return format_html('<a href="{}">{}</a>', reverse("admin:orchestration_run_change", args=[obj.run_id]),
                           obj.run_id)

    @admin.display(description="config hash")
    def short_hash(self, obj: Deployment) -> str:
        return obj.config_hash[:12]


@admin.register(DeployKey)
class DeployKeyAdmin(RecordAdmin):
    list_display = ["tenant", "fingerprint", "created_at"]
    search_fields = ["tenant__slug", "fingerprint"]
    list_select_related = ["tenant"]
    fields = readonly_fields = ["tenant", "public_key", "fingerprint", "created_at"]  # never the private key

