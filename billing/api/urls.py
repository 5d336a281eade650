from django.urls import re_path

from billing.api import views
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("billing/invoices", views.InvoiceViewSet, basename="billing-invoice")
router.register("billing/payments", views.PaymentViewSet, basename="billing-payment")

subscription = views.SubscriptionViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"})

urlpatterns = [
    re_path(r"^billing/subscription/?$", subscription, name="billing-subscription"),
    re_path(r"^billing/webhooks/stripe/?$", views.StripeWebhookView.as_view(), name="billing-stripe-webhook"),
    *router.urls,
]
