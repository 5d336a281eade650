"""Operators' pages: the catalogue, interactions (read-only), models with their metrics, a
"train now" action that goes through `training` like the API, and a preview of one user's
history beside what they would be recommended (through `serving`, as the API answers)."""
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from core.admin import CappedPaginator, may_change, state_badge, truncated
from recommendations import selectors, services, serving, training
from recommendations.models import EXTERNAL_ID_MAX, Interaction, Item, RecommendationModel
from tenants.models import Tenant

PREVIEW_HISTORY = 50


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "short_title", "tenant", "hidden", "updated_at"]
    list_filter = ["hidden", "tenant"]
    search_fields = ["external_id", "title", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "external_id", "created_by", "created_at", "updated_at"]
    fields = ["tenant", "external_id", "title", "description", "categories", "properties", "hidden",
              "created_by", "created_at", "updated_at"]
    paginator = CappedPaginator
    show_full_result_count = False
    actions = ["hide", "unhide"]

    def has_add_permission(self, request) -> bool:
        return False  # items come from the tenant's uploads

    @admin.display(description="title", ordering="title")
    def short_title(self, obj):
        return truncated(obj.title, length=60)

    def save_model(self, request, obj, form, change):
        services.item_update(item=obj, **{name: form.cleaned_data[name] for name in form.changed_data})

    def delete_model(self, request, obj):
        services.item_delete(item=obj)

    def delete_queryset(self, request, queryset):
        for item in queryset:
            services.item_delete(item=item)

    @admin.action(description="Hide from recommendations", permissions=["change"])
    def hide(self, request, queryset):
        for item in queryset:
            services.item_update(item=item, hidden=True)
        self.message_user(request, f"Hid {len(queryset)} item(s).", messages.SUCCESS)

    @admin.action(description="Show in recommendations again", permissions=["change"])
    def unhide(self, request, queryset):
        for item in queryset:
            services.item_update(item=item, hidden=False)
        self.message_user(request, f"Showed {len(queryset)} item(s) again.", messages.SUCCESS)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "tenant", "user_id", "item", "type", "value", "event_id"]
    list_filter = ["type"]
    search_fields = ["user_id", "event_id"]
    list_select_related = ["tenant", "item"]
    paginator = CappedPaginator
    show_full_result_count = False
    raw_id_fields = ["item"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PreviewForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.order_by("slug"), to_field_name="slug")
    user_id = forms.CharField(label="User id", max_length=EXTERNAL_ID_MAX, help_text="The tenant's own id of the user.")
    count = forms.IntegerField(min_value=1, max_value=100, initial=10, required=False)
    exclude_seen = forms.BooleanField(required=False, initial=True, label="Exclude seen items")


@admin.register(RecommendationModel)
class RecommendationModelAdmin(admin.ModelAdmin):
    list_display = ["tenant", "version", "state", "algorithm", "ndcg", "popularity_ndcg", "recall",
                    "trained_on", "trained_at"]
    list_filter = ["status", "algorithm", "tenant"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = [field.name for field in RecommendationModel._meta.fields]
    actions = ["train_now"]
    change_list_template = "admin/recommendations/recommendationmodel/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return state_badge(obj.status, title=obj.error[:300])

    @admin.display(description="trained on")
    def trained_on(self, obj) -> str:
        took = f" in {obj.duration_ms / 1000:.1f} s" if obj.duration_ms else ""
        return f"{obj.interactions:,} interactions, {obj.items:,} items{took}"

    @admin.display(description="NDCG@10")
    def ndcg(self, obj):
        return obj.metrics.get("ndcg_at_10")

    @admin.display(description="popularity NDCG@10")
    def popularity_ndcg(self, obj):
        return obj.metrics.get("popularity_ndcg_at_10")

    @admin.display(description="recall@10")
    def recall(self, obj):
        return obj.metrics.get("recall_at_10")

    def has_train_permission(self, request) -> bool:
        return may_change(request, self.model)

    @admin.action(description="Train a new version of these tenants' models now", permissions=["train"])
    def train_now(self, request, queryset):
        tenants = {model.tenant_id: model.tenant for model in queryset}.values()
        started, busy = 0, []
        for tenant in tenants:
            try:
                training.model_train_request(tenant=tenant, actor=request.user)
                started += 1
            except training.TrainingInProgress:
                busy.append(tenant.slug)
        names = ", ".join(sorted(busy)) if busy else ""
        self.message_user(request, f"Training {started} tenant(s)" + (f"; already training: {names}." if busy else "."),
                          messages.WARNING if busy else messages.SUCCESS)

    def get_urls(self):
        return [path("preview/", self.admin_site.admin_view(self.preview_view), name="recommendations_preview"),
                *super().get_urls()]

    def preview_view(self, request):
        """The answer is `serving.recommend`'s own (so it also counts on /metrics): the served
        model, the remote engine when ML_ENGINE_URL is set, popularity on cold start."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PreviewForm(request.GET if "tenant" in request.GET else None)
        context = {**self.admin_site.each_context(request), "title": "Preview a user's recommendations",
                   "subtitle": None, "opts": self.model._meta, "form": form}
        if form.is_valid():
            tenant, user_id = form.cleaned_data["tenant"], form.cleaned_data["user_id"]
            context.update(
                tenant=tenant, user_id=user_id,
                history=list(selectors.user_history(tenant=tenant, user_id=user_id, limit=PREVIEW_HISTORY)),
                interactions=selectors.user_interaction_count(tenant=tenant, user_id=user_id),
                answer=serving.recommend(tenant=tenant, user_id=user_id, count=form.cleaned_data["count"] or 10,
                                         exclude_seen=form.cleaned_data["exclude_seen"]),
            )
        return TemplateResponse(request, "admin/recommendations/preview.html", context)
