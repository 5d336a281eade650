"""The operators' billing pages: subscriptions, invoices (with lines and a printable page),
payments and Stripe's webhook events (payload read-only, "reprocess")."""
import json

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing import services, webhooks
from billing.models import Invoice, InvoiceLine, Payment, Subscription, WebhookEvent
from core.admin import state_badge, truncated


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("tenant", "state", "period", "cancel_at_period_end", "past_due_since", "stripe_customer_id")
    list_filter = ("status", "cancel_at_period_end", "suspended_for_nonpayment")
    list_select_related = ("tenant",)
    search_fields = ("tenant__slug", "tenant__name", "stripe_customer_id", "stripe_subscription_id")
    readonly_fields = [field.name for field in Subscription._meta.fields]
    actions = ["close_due_period"]

    def has_add_permission(self, request) -> bool:
        return False  # started by the billing services, one per tenant

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return state_badge(obj.status)

    @admin.display(description="current period (UTC)", ordering="current_period_end")
    def period(self, obj) -> str:
        return f"{obj.current_period_start:%Y-%m-%d} → {obj.current_period_end:%Y-%m-%d}"

    @admin.action(description="Close the period now if it has ended", permissions=["change"])
    def close_due_period(self, request, queryset) -> None:
        closed = sum(1 for sub in queryset if services.subscription_close_period(subscription_id=sub.pk))
        self.message_user(request, f"Closed {closed} of {queryset.count()} periods.", messages.SUCCESS)


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ("position", "kind", "description", "quantity", "unit_cents", "amount_cents")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("number", "tenant", "state", "collection", "period", "total", "printable")
    list_filter = ("status", "collection", "currency")
    list_select_related = ("tenant",)
    search_fields = ("number", "tenant__slug", "stripe_invoice_id")
    readonly_fields = [field.name for field in Invoice._meta.fields]
    inlines = [InvoiceLineInline]
    show_full_result_count = False
    actions = ["mark_paid"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # invoices are void, never deleted (their numbers must stay)

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return state_badge(obj.status)

    @admin.display(description="period (UTC)", ordering="period_start")
    def period(self, obj) -> str:
        return f"{obj.period_start:%Y-%m-%d} → {obj.period_end:%Y-%m-%d}"

    @admin.display(description="total", ordering="total_cents")
    def total(self, obj) -> str:
        return f"{obj.total_cents / 100:,.2f} {obj.currency.upper()}"

    @admin.display(description="print")
    def printable(self, obj) -> str:
        return format_html('<a href="{}">invoice</a>', reverse("admin:billing_invoice_print", args=[obj.pk]))

    def get_urls(self):
        return [path("<uuid:pk>/print/", self.admin_site.admin_view(self.print_view), name="billing_invoice_print"),
                *super().get_urls()]

    def print_view(self, request, pk):
        invoice = get_object_or_404(Invoice.objects.select_related("tenant").prefetch_related("lines"), pk=pk)
        if not self.has_view_permission(request, invoice):
            return TemplateResponse(request, "admin/billing/invoice_print.html", {"denied": True}, status=403)
        return TemplateResponse(request, "admin/billing/invoice_print.html", {
            "invoice": invoice, "account": invoice.tenant.billing_account or {}, "lines": invoice.lines.all(),
        })

    @admin.action(description="Mark paid (a manual payment received for the total)", permissions=["change"])
    def mark_paid(self, request, queryset) -> None:
        done, skipped = 0, []
        for invoice in queryset:
            if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
                skipped.append(f"{invoice.number or invoice.pk} ({invoice.status})")
                continue
            services.invoice_record_payment(invoice=invoice, amount_cents=invoice.total_cents,
                                            currency=invoice.currency, actor=request.user)
            done += 1
        self.message_user(request, f"Marked {done} of {queryset.count()} invoices paid.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Not marked, neither open nor uncollectible: {', '.join(skipped)}.",
                              messages.WARNING)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("created_at", "tenant", "invoice", "amount", "state", "failure")
    list_filter = ("status", "currency")
    list_select_related = ("tenant", "invoice")
    search_fields = ("tenant__slug", "invoice__number", "stripe_event_id")
    readonly_fields = [field.name for field in Payment._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj) -> str:
        return f"{obj.amount_cents / 100:,.2f} {obj.currency.upper()}"

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return state_badge(obj.status)

    @admin.display(description="failure")
    def failure(self, obj):
        return truncated(obj.failure_message, length=80)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "type", "stripe_id", "state", "attempts", "processed_at")
    list_filter = ("status", "type")
    search_fields = ("stripe_id", "type")
    fields = ("stripe_id", "type", "status", "attempts", "received_at", "processed_at", "error", "payload_json")
    readonly_fields = fields
    show_full_result_count = False
    actions = ["reprocess"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return state_badge(obj.status)

    @admin.display(description="payload (as Stripe sent it)")
    def payload_json(self, obj) -> str:
        # Indented for reading; escaped by format_html, since the payload is whatever was signed.
        return format_html("<pre style=\"white-space: pre-wrap\">{}</pre>",
                           json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.action(description="Reprocess (idempotent: a payment is recorded once per event)", permissions=["change"])
    def reprocess(self, request, queryset) -> None:
        outcomes = [webhooks.webhook_process(event_pk=event.pk, force=True) for event in queryset]
        summary = ", ".join(f"{outcomes.count(kind)} {kind}" for kind in sorted(set(outcomes)))
        self.message_user(request, f"Reprocessed: {summary}.", messages.SUCCESS)
