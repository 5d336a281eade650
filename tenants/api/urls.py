from django.urls import re_path

from core.api.routers import OptionalSlashRouter
from tenants.api import views

SLUG = r"(?P<tenant_slug>[-a-zA-Z0-9_]+)"

router = OptionalSlashRouter()
router.register("tenants", views.TenantListViewSet, basename="tenant")
router.register("tenants", views.TenantDetailViewSet, basename="tenant-detail")
router.register(rf"tenants/{SLUG}/members", views.MemberViewSet, basename="tenant-member")
router.register(rf"tenants/{SLUG}/invitations", views.InvitationViewSet, basename="tenant-invitation")

staff_router = OptionalSlashRouter()
staff_router.register("tenants", views.StaffTenantViewSet, basename="staff-tenant")

urlpatterns = [
    re_path(r"^invitations/accept/?$", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    *router.urls,
]

staff_urlpatterns = staff_router.urls
