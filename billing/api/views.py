"""Views of the billing API: thin — validate, call a service or a selector, answer."""
import logging

from django.db import DatabaseError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services, webhooks
from billing.api import serializers as s
from billing.api.filters import InvoiceFilter, PaymentFilter
from billing.api.permissions import SUBSCRIPTION_POLICY, StripeSignature
from billing.models import Invoice, Payment, Subscription
from core.api.exceptions import ServiceUnavailable
from core.api.tenancy import TenantScopedViewSet

logger = logging.getLogger("groundstation.billing")


@extend_schema(tags=["billing"])
class SubscriptionViewSet(TenantScopedViewSet):
    """The tenant's one subscription (started on its plan the first time it is asked for)."""

    queryset = Subscription.objects.none()
    serializer_class = s.SubscriptionSerializer
    pagination_class = None
    filter_backends = []
    action_policy = SUBSCRIPTION_POLICY

    def get_object(self):
        # The tenant's one subscription has no id in the URL; DRF's OPTIONS metadata asks for it too.
        subscription = services.subscription_ensure(tenant=self.tenant)
        self.check_object_permissions(self.request, subscription)
        return subscription

    def _answer(self, subscription) -> Response:
        return Response(s.SubscriptionSerializer(subscription).data)

    def retrieve(self, request, *args, **kwargs):
        return self._answer(services.subscription_ensure(tenant=self.tenant))

    @extend_schema(request=s.SubscriptionUpdateSerializer, responses={200: s.SubscriptionSerializer},
                   description="Move to another plan (admin role); also undoes a pending cancellation.")
    def update(self, request, *args, **kwargs):
        data = s.SubscriptionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(services.subscription_change_plan(
            tenant=self.tenant, plan=data.validated_data["plan"], actor=self.actor()
        ))

    @extend_schema(responses={200: s.SubscriptionSerializer},
                   description="Cancel at the end of the current period (which is still invoiced).")
    def destroy(self, request, *args, **kwargs):
        return self._answer(services.subscription_cancel(tenant=self.tenant, actor=self.actor()))


@extend_schema(tags=["billing"])
class InvoiceViewSet(TenantScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The tenant's finalised and paid invoices, newest period first, and the upcoming one."""

    queryset = Invoice.objects.prefetch_related("lines")
    serializer_class = s.InvoiceSerializer
    filterset_class = InvoiceFilter
    ordering_fields = ["period_start", "number", "total_cents"]
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    @extend_schema(responses={200: s.UpcomingInvoiceSerializer})
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def upcoming(self, request, *args, **kwargs):
        """The current period so far, computed live from the usage meter."""
        subscription = services.subscription_ensure(tenant=self.tenant)
        return Response(s.UpcomingInvoiceSerializer(selectors.invoice_upcoming(subscription=subscription)).data)


@extend_schema(tags=["billing"])
class PaymentViewSet(TenantScopedViewSet, mixins.ListModelMixin):
    queryset = Payment.objects.select_related("invoice")
    serializer_class = s.PaymentSerializer
    filterset_class = PaymentFilter
    ordering_fields = ["created_at", "amount_cents"]


@extend_schema(tags=["billing"])
class StripeWebhookView(APIView):
    """Stripe's events. Verified with `Stripe-Signature` (STRIPE_WEBHOOK_SECRET), stored once by
    event id and processed on a worker; a replay answers 200 and changes nothing."""

    authentication_classes = []
    permission_classes = [StripeSignature]
    # Stripe's deliveries are not a tenant's API traffic: not metered, not rate limited.
    gateway_exempt = True

    @extend_schema(
        request={"application/json": dict},
        responses={
            200: inline_serializer("StripeWebhookReceived", {
                "received": serializers.BooleanField(), "duplicate": serializers.BooleanField(),
            }),
            400: OpenApiResponse(description="Bad or missing signature, or not a Stripe event; nothing stored."),
        },
    )
    def post(self, request, *args, **kwargs):
        payload = request.body  # the exact bytes Stripe signed (read before any parsing)
        signature = request.META.get("HTTP_STRIPE_SIGNATURE", "")
        try:
            _event, created = webhooks.webhook_receive(payload=payload, signature=signature)
        except webhooks.BadSignature:
            raise ValidationError({"signature": ["Not a valid Stripe signature for this payload."]}) from None
        except DatabaseError:  # Stripe retries a 503 later
            logger.exception("stripe event not stored")
            raise ServiceUnavailable() from None
        return Response({"received": True, "duplicate": not created})
