"""Shapes of the billing API (SPEC §4 "billing, payments and notifications")."""
from rest_framework import serializers

from billing.models import Invoice, InvoiceLine, Payment, Subscription
from tenants.models import Plan


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = serializers.SerializerMethodField(help_text="The plan's slug (the tenant's plan).")
    collection = serializers.SerializerMethodField(help_text="`stripe` when Stripe collects, else `manual`.")

    class Meta:
        model = Subscription
        fields = ["id", "plan", "status", "current_period_start", "current_period_end", "trial_end",
                  "cancel_at_period_end", "canceled_at", "collection", "created_at"]
        read_only_fields = fields

    def get_plan(self, obj) -> str | None:
        return obj.tenant.plan.slug if obj.tenant.plan else None

    def get_collection(self, obj) -> str:
        return Invoice.Collection.STRIPE if obj.stripe_customer_id else Invoice.Collection.MANUAL


class SubscriptionUpdateSerializer(serializers.Serializer):
    plan = serializers.SlugRelatedField(slug_field="slug", queryset=Plan.objects.all(),
                                        help_text="The slug of the plan to move to.")


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = ["kind", "description", "quantity", "unit_cents", "amount_cents"]


class InvoiceSerializer(serializers.ModelSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "number", "status", "collection", "period_start", "period_end", "currency", "lines",
                  "subtotal_cents", "tax_cents", "total_cents", "finalized_at", "paid_at"]
        read_only_fields = fields


class UpcomingInvoiceSerializer(serializers.Serializer):
    """The current period so far, in the invoice's shape (`status: "upcoming"`, no id or number)."""

    id = serializers.UUIDField(allow_null=True)
    number = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    collection = serializers.CharField(allow_null=True)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    currency = serializers.CharField()
    lines = InvoiceLineSerializer(many=True)
    subtotal_cents = serializers.IntegerField()
    tax_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    finalized_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)


class PaymentSerializer(serializers.ModelSerializer):
    invoice = serializers.SerializerMethodField(help_text="The invoice's number.")
    invoice_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Payment
        fields = ["id", "amount_cents", "currency", "status", "invoice", "invoice_id", "failure_message",
                  "created_at"]
        read_only_fields = fields

    def get_invoice(self, obj) -> str | None:
        return obj.invoice.number if obj.invoice else None
