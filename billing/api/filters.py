"""Filters of the billing API."""
import django_filters

from billing.models import Invoice, Payment


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices)
    since = django_filters.IsoDateTimeFilter(field_name="period_start", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="period_start", lookup_expr="lt")

    class Meta:
        model = Invoice
        fields = ["status"]


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Payment.Status.choices)
    invoice = django_filters.UUIDFilter(field_name="invoice_id")

    class Meta:
        model = Payment
        fields = ["status", "invoice"]
