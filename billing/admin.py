"""The operators' billing pages: subscriptions, invoices (with lines and a printable page),
payments and Stripe's webhook events (payload read-only, "reprocess")."""
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing import services, webhooks
from billing.models import Invoice, InvoiceLine, Payment, Subscription, WebhookEvent


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("tenant", "status", "current_period_start", "current_period_end", "cancel_at_period_end",
                    "past_due_since", "stripe_customer_id")
    list_filter = ("status", "cancel_at_period_end", "suspended_for_nonpayment")
    list_select_related = ("tenant",)
    search_fields = ("tenant__slug", "tenant__name", "stripe_customer_id", "stripe_subscription_id")
    readonly_fields = [field.name for field in Subscription._meta.fields]
    actions = ["close_due_period"]

    def has_add_permission(self, request) -> bool:
        return False  # started by the billing services, one per tenant

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
    list_display = ("number", "tenant", "status", "collection", "period_start", "period_end", "total_cents",
                    "currency", "printable")
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
        done = 0
        for invoice in queryset.filter(status__in=[Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE]):
            services.invoice_record_payment(invoice=invoice, amount_cents=invoice.total_cents,
                                            currency=invoice.currency, actor=request.user)
            done += 1
        self.message_user(request, f"Marked {done} of {queryset.count()} invoices paid.", messages.SUCCESS)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("created_at", "tenant", "invoice", "amount_cents", "currency", "status", "failure_message")
    list_filter = ("status", "currency")
    list_select_related = ("tenant", "invoice")
    search_fields = ("tenant__slug", "invoice__number", "stripe_event_id")
    readonly_fields = [field.name for field in Payment._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "type", "stripe_id", "status", "attempts", "processed_at")
    list_filter = ("status", "type")
    search_fields = ("stripe_id", "type")
    readonly_fields = [field.name for field in WebhookEvent._meta.fields]
    show_full_result_count = False
    actions = ["reprocess"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Reprocess (idempotent: a payment is recorded once per event)", permissions=["change"])
    def reprocess(self, request, queryset) -> None:
        outcomes = [webhooks.webhook_process(event_pk=event.pk, force=True) for event in queryset]
        summary = ", ".join(f"{outcomes.count(kind)} {kind}" for kind in sorted(set(outcomes)))
        self.message_user(request, f"Reprocessed: {summary}.", messages.SUCCESS)
