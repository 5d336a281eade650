"""The operators' console for orchestration: clusters, runs, executions, agents, tasks and
secrets. Every write goes through the services, as the API's do."""

import difflib

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from core.admin import DeleteThroughService, confirm_first, short_id
from core.admin import badge as core_badge
from core.api.exceptions import Conflict
from orchestration import admin_charts, clock, selectors, services
from orchestration.admin_charts import COLOURS
from orchestration.definition_yaml import DefinitionInvalid, DefinitionTooLarge
from orchestration.definitions import parse_definition
from orchestration.models import (
    Agent,
    AgentTask,
    Cluster,
    ClusterVersion,
    Execution,
    Run,
    RunStatus,
    Secret,
    StepLog,
    StepRun,
)

RECENT_LOG_LINES = 200
RETRYABLE = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED})


def badge(status: str):
    """The status as a word on its colour, with its glyph (readable without the colour)."""
    glyph = admin_charts.GLYPHS.get(status, "")
    return core_badge(f"{glyph} {status.replace('_', ' ')}".strip(), COLOURS.get(status, "#6e7781"))


def duration(started, finished) -> str:
    if not (started and finished):
        return "—"
    seconds = (finished - started).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


# --- Clusters ---------------------------------------------------------------------------------
class ClusterForm(forms.ModelForm):
    class Meta:
        model = Cluster
        fields = ["tenant", "definition"]
        widgets = {"definition": forms.Textarea(attrs={"rows": 24, "cols": 100, "style": "font-family:monospace"})}

    def clean_definition(self):
        text = self.cleaned_data["definition"]
        try:
            parse_definition(text)
        except DefinitionTooLarge as exc:
            raise ValidationError(str(exc))
        except DefinitionInvalid as exc:
            raise ValidationError([f"line {p.line}: {p.message}" for p in exc.problems])
        return text


def version_history(cluster: Cluster, query) -> dict:
    """The cluster's versions (newest first) and a unified diff of the YAML between the two
    chosen in the query (`diff_from`, `diff_to`; by default the previous and the current one).
    Two queries however many versions."""
    versions = list(
        ClusterVersion.objects.filter(cluster=cluster).order_by("-version")
        .values("version", "created_at", "created_by__email")
    )
    numbers = [v["version"] for v in versions]

    def chosen(name: str, default: int) -> int:
        value = query.get(name, "")
        return int(value) if value.isdigit() and int(value) in numbers else default

    newest = numbers[0] if numbers else cluster.version
    old, new = chosen("diff_from", numbers[1] if len(numbers) > 1 else newest), chosen("diff_to", newest)
    chosen_rows = ClusterVersion.objects.filter(cluster=cluster, version__in={old, new})
    texts = dict(chosen_rows.values_list("version", "definition"))
    lines = list(difflib.unified_diff(
        texts.get(old, "").splitlines(), texts.get(new, "").splitlines(),
        fromfile=f"version {old}", tofile=f"version {new}", lineterm="",
    ))
    return {"cluster_versions": versions, "diff_from": old, "diff_to": new, "diff_lines": [
        (DIFF_CLASSES.get(line[:1], "same") if not line.startswith(("---", "+++")) else "file", line) for line in lines
    ]}


DIFF_CLASSES = {"+": "added", "-": "removed", "@": "hunk", " ": "same"}


@admin.register(Cluster)
class ClusterAdmin(DeleteThroughService, admin.ModelAdmin):
    form = ClusterForm
    list_display = ["name", "tenant", "version", "schedule", "steps", "updated_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]
    actions = ["trigger_runs"]
    change_form_template = "admin/orchestration/cluster_change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(version_history(obj, request.GET))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["tenant", "definition"]
        return ["tenant", "name", "version", "schedule", "periodic_task", "formatted_definition", "definition"]

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", "name", "version", "schedule", "periodic_task", "formatted_definition"] if obj else []

    @admin.display(description="current definition")
    def formatted_definition(self, obj):
        return format_html(
            '<pre style="background:#f6f8fa;padding:8px;border-radius:6px;max-height:30em;overflow:auto">{}</pre>',
            obj.definition,
        )

    @admin.display(description="steps")
    def steps(self, obj) -> int:
        return len(obj.spec.get("steps", []))

    def save_model(self, request, obj, form, change):
        definition = form.cleaned_data["definition"]
        try:
            if change:
                saved = services.cluster_update(cluster=obj, definition=definition, actor=request.user)
            else:
                saved = services.cluster_create(tenant=obj.tenant, definition=definition, actor=request.user)
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return
        obj.pk = saved.pk

    def delete_through_service(self, obj, actor):
        services.cluster_delete(cluster=obj, actor=actor)

    @admin.action(description="Trigger a run of the selected clusters (default inputs)", permissions=["change"])
    def trigger_runs(self, request, queryset):
        started, refused = 0, []
        for cluster in queryset:
            try:
                services.run_trigger(cluster=cluster, inputs={}, actor=request.user, trigger=Run.Trigger.ADMIN)
                started += 1
            except Exception as exc:  # report each refusal (missing inputs, concurrency) and go on
                refused.append(f"{cluster.name}: {getattr(exc, 'detail', exc)}")
        if started:
            messages.success(request, f"Triggered {started} run(s).")
        for problem in refused:
            messages.error(request, problem)


# --- Runs and executions ----------------------------------------------------------------------
class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = ["step_id", "satellite", "coloured_status", "attempts", "took", "started_at", "worker", "error"]
    readonly_fields = fields
    ordering = ["position"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def coloured_status(self, obj):
        return badge(obj.status)

    @admin.display(description="duration")
    def took(self, obj) -> str:
        return duration(obj.started_at, obj.finished_at)


class RunAdminBase(admin.ModelAdmin):
    list_filter = ["status", "trigger", "tenant"]
    list_select_related = ["tenant", "cluster"]
    inlines = [StepRunInline]
    actions = ["cancel_runs", "retry_runs"]
    show_full_result_count = False  # counting every run on each page view is the slow part
    date_hierarchy = "created_at"
    change_form_template = "admin/orchestration/run_change_form.html"

    def has_add_permission(self, request) -> bool:
        return False

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.run_pictures(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def run_pictures(self, run: Run) -> dict:
        """The DAG and the timeline of attempts: three queries whatever the number of steps."""
        steps = list(run.steps.all())
        if run.kind == Run.Kind.EXECUTION:  # one step, no edges: drawn from its row alone
            spec = {"steps": [{"id": step.step_id, "satellite": run.satellite, "depends_on": []} for step in steps]}
        else:
            spec = ClusterVersion.objects.values_list("spec", flat=True).get(pk=run.cluster_version_id)
        bars = admin_charts.attempt_bars(steps, selectors.step_attempt_spans(run=run))
        return {
            "run_dag": admin_charts.dag_svg(spec["steps"] + spec.get("on_failure", []), steps),
            "run_gantt": admin_charts.gantt_svg(bars, now=clock.now()),
            "run_legend": [(status, admin_charts.colour(status), admin_charts.GLYPHS[status])
                           for status in admin_charts.GLYPHS],
        }

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def coloured_status(self, obj):
        return badge(obj.status)

    @admin.display(description="duration")
    def took(self, obj) -> str:
        return duration(obj.started_at, obj.finished_at)

    @admin.display(description="id", ordering="id")
    def short(self, obj):
        return short_id(obj.pk)

    @admin.display(description=f"log (last {RECENT_LOG_LINES} lines)")
    def recent_logs(self, obj):
        lines = reversed(StepLog.objects.filter(run=obj).order_by("-id")[:RECENT_LOG_LINES])
        return format_html(
            '<pre style="max-height:30em;overflow:auto">{}</pre>',
            format_html_join(
                "\n",
                "{} [{}#{}] {}",
                (
                    (log.created_at.strftime("%H:%M:%S.%f")[:-3], log.step_id or "run", log.attempt, log.message)
                    for log in lines
                ),
            ),
        )

    def has_operate_permission(self, request) -> bool:
        """Run pages are read-only; cancelling and retrying need the model's change permission."""
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('change', self.opts)}")

    @admin.action(description="Cancel the selected runs", permissions=["operate"])
    @confirm_first("Cancel these runs? Running steps stop and nothing more is queued.", verb="cancel them")
    def cancel_runs(self, request, queryset):
        done, finished = 0, []
        for run in queryset:
            if run.is_terminal:
                finished.append(f"{run.pk} ({run.status})")
                continue
            services.run_cancel(run=run, actor=request.user)
            done += 1
        messages.success(request, f"Cancelled {done} run(s).")
        if finished:
            messages.warning(request, f"Not cancelled, already finished: {', '.join(finished)}.")

    @admin.action(description="Retry the selected runs from their failed steps", permissions=["operate"])
    def retry_runs(self, request, queryset):
        done, skipped = 0, []
        for run in queryset:
            if run.status not in RETRYABLE:
                skipped.append(f"{run.pk} ({run.status})")
                continue
            try:
                services.run_retry(run=run, actor=request.user)
                done += 1
            except Conflict as exc:
                messages.error(request, f"{run.pk}: {exc.detail}")
        messages.success(request, f"Retrying {done} run(s).")
        if skipped:
            messages.warning(
                request, f"Not retried, neither failed, timed out nor cancelled: {', '.join(skipped)}."
            )


@admin.register(Run)
class RunAdmin(RunAdminBase):
    list_display = ["short", "cluster", "version", "tenant", "coloured_status", "trigger", "created_at", "took"]
    search_fields = ["id", "cluster__name"]
    readonly_fields = [
        "tenant",
        "cluster",
        "version",
        "status",
        "trigger",
        "inputs",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "recent_logs",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=Run.Kind.CLUSTER)


@admin.register(Execution)
class ExecutionAdmin(RunAdminBase):
    list_display = ["short", "satellite", "tenant", "coloured_status", "created_at", "took"]
    list_filter = ["status", "satellite", "tenant"]
    search_fields = ["id", "satellite"]
    readonly_fields = [
        "tenant",
        "satellite",
        "status",
        "inputs",
        "timeout_seconds",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "recent_logs",
    ]
    fields = readonly_fields
    actions = ["cancel_runs"]


# --- Agents, tasks, secrets -------------------------------------------------------------------
@admin.register(Agent)
class AgentAdmin(DeleteThroughService, admin.ModelAdmin):
    list_display = ["name", "tenant", "model", "is_active", "updated_at"]
    list_filter = ["is_active", "model", "tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]
    fields = ["tenant", "name", "description", "prompt", "model", "is_active"]

    def get_readonly_fields(self, request, obj=None):
        return ["tenant"] if obj else []

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in ("name", "description", "prompt", "model", "is_active")}
        try:
            if change:
                services.agent_update(agent=Agent.objects.get(pk=obj.pk), actor=request.user, **fields)
            else:
                obj.pk = services.agent_create(tenant=obj.tenant, actor=request.user, **fields).pk
        except Conflict as exc:
            messages.error(request, str(exc.detail))

    def delete_through_service(self, obj, actor):
        services.agent_delete(agent=obj, actor=actor)


@admin.register(AgentTask)
class AgentTaskAdmin(admin.ModelAdmin):
    list_display = ["title", "agent", "tenant", "coloured_status", "created_at", "finished_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["title", "agent__name"]
    list_select_related = ["agent", "tenant"]
    readonly_fields = [
        "tenant",
        "agent",
        "title",
        "description",
        "input",
        "status",
        "result",
        "error",
        "execution",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def coloured_status(self, obj):
        colour = {"completed": "#1a7f37", "failed": "#cf222e", "processing": "#0969da"}.get(obj.status, "#6e7781")
        return core_badge(obj.status, colour)


class SecretForm(forms.ModelForm):
    value = forms.CharField(widget=forms.PasswordInput(render_value=False), help_text="Write-only; never shown again.")

    class Meta:
        model = Secret
        fields = ["tenant", "name"]


@admin.register(Secret)
class SecretAdmin(DeleteThroughService, admin.ModelAdmin):
    form = SecretForm
    list_display = ["name", "tenant", "updated_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", "name"] if obj else []

    def save_model(self, request, obj, form, change):
        saved = services.secret_set(
            tenant=obj.tenant, name=obj.name, value=form.cleaned_data["value"], actor=request.user
        )
        obj.pk = saved.pk

    def delete_through_service(self, obj, actor):
        services.secret_delete(secret=obj, actor=actor)
