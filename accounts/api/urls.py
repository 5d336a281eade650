from django.urls import re_path

from accounts.api import views
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("auth/tokens", views.PersonalTokenViewSet, basename="personal-token")

staff_router = OptionalSlashRouter()
staff_router.register("users", views.StaffUserViewSet, basename="staff-user")

urlpatterns = [
    re_path(r"^auth/register/?$", views.RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/verify-email/?$", views.VerifyEmailView.as_view(), name="auth-verify-email"),
    re_path(r"^auth/login/?$", views.LoginView.as_view(), name="auth-login"),
    re_path(r"^auth/refresh/?$", views.RefreshView.as_view(), name="auth-refresh"),
    re_path(r"^auth/logout/?$", views.LogoutView.as_view(), name="auth-logout"),
    re_path(r"^auth/me/?$", views.MeView.as_view(), name="auth-me"),
    re_path(r"^auth/me/notifications/?$", views.NotificationPreferencesView.as_view(), name="auth-me-notifications"),
    re_path(r"^auth/password/change/?$", views.PasswordChangeView.as_view(), name="auth-password-change"),
    re_path(r"^auth/password/reset/?$", views.PasswordResetView.as_view(), name="auth-password-reset"),
    re_path(
        r"^auth/password/reset/confirm/?$",
        views.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    *router.urls,
]

staff_urlpatterns = staff_router.urls
