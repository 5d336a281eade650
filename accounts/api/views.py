"""Views of the accounts API: thin — validate with a serializer, call a service, answer."""
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import filters, mixins, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api import serializers as s
from accounts.api.filters import StaffUserFilter
from accounts.api.permissions import IsPerson, StaffModelPermissions
from accounts.models import PersonalAccessToken, User
from accounts.ratelimits import limit_email, limit_ip
from notifications import selectors as notification_selectors
from notifications import services as notification_services


class AuthRateLimited:
    """Every auth endpoint spends the caller's per-IP budget before doing anything else."""

    def check_throttles(self, request) -> None:
        super().check_throttles(request)
        limit_ip(request)


class AnonymousAuthView(AuthRateLimited, APIView):
    """Endpoints reached before one has a session: credentials in the header are ignored."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request) -> str:
        # Without authentication classes DRF would turn our 401s into 403s.
        return 'Bearer realm="api"'


class RegisterView(AnonymousAuthView):
    @extend_schema(request=s.RegisterSerializer, responses={201: s.UserSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(s.RegisterSerializer, request)
        user = services.user_register(**data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class VerifyEmailView(AnonymousAuthView):
    @extend_schema(request=s.TokenSerializer, responses={200: s.UserSerializer}, tags=["auth"])
    def post(self, request):
        user = services.user_verify_email(**_valid(s.TokenSerializer, request))
        return Response(s.UserSerializer(user).data)


class LoginView(AnonymousAuthView):
    @extend_schema(request=s.LoginSerializer, responses={200: s.SessionSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(s.LoginSerializer, request)
        limit_email(request, action="login", email=data["email"])
        return Response(services.user_login(**data))


class RefreshView(AnonymousAuthView):
    @extend_schema(request=s.RefreshSerializer, responses={200: s.SessionSerializer}, tags=["auth"])
    def post(self, request):
        return Response(services.session_refresh(**_valid(s.RefreshSerializer, request)))


class LogoutView(AnonymousAuthView):
    @extend_schema(request=s.RefreshSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        services.session_logout(**_valid(s.RefreshSerializer, request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(AnonymousAuthView):
    @extend_schema(request=s.PasswordResetSerializer, responses={202: s.DetailSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(s.PasswordResetSerializer, request)
        limit_email(request, action="password-reset", email=data["email"])
        services.password_reset_request(**data)
        return Response(
            {"detail": "If an account has this address, a reset link is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmView(AnonymousAuthView):
    @extend_schema(request=s.PasswordResetConfirmSerializer, responses={200: s.DetailSerializer}, tags=["auth"])
    def post(self, request):
        services.password_reset_confirm(**_valid(s.PasswordResetConfirmSerializer, request))
        return Response({"detail": "Password changed; sign in with the new one."})


class MeView(AuthRateLimited, APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses={200: s.UserSerializer}, tags=["auth"])
    def get(self, request):
        return Response(s.UserSerializer(request.user).data)

    @extend_schema(request=s.ProfileUpdateSerializer, responses={200: s.UserSerializer}, tags=["auth"])
    def patch(self, request):
        data = _valid(s.ProfileUpdateSerializer, request)
        user = services.user_update_profile(user=request.user, **data)
        return Response(s.UserSerializer(user).data)

    @extend_schema(
        responses={204: None, 409: OpenApiResponse(description="Sole owner of a tenant")}, tags=["auth"]
    )
    def delete(self, request):
        services.user_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationPreferencesView(AuthRateLimited, APIView):
    """The signed-in person's e-mail preferences by category."""

    permission_classes = [IsPerson]

    @extend_schema(responses={200: s.NotificationPreferencesSerializer}, tags=["auth"])
    def get(self, request):
        return Response(notification_selectors.notification_preferences_get(user=request.user))

    @extend_schema(request=s.NotificationPreferencesSerializer, responses={200: s.NotificationPreferencesSerializer},
                   tags=["auth"])
    def patch(self, request):
        data = _valid(s.NotificationPreferencesSerializer, request)
        return Response(notification_services.notification_preferences_update(user=request.user, **data))


class PasswordChangeView(AuthRateLimited, APIView):
    permission_classes = [IsPerson]

    @extend_schema(request=s.PasswordChangeSerializer, responses={200: s.SessionSerializer}, tags=["auth"])
    def post(self, request):
        session = services.user_password_change(user=request.user, **_valid(s.PasswordChangeSerializer, request))
        return Response(session)


@extend_schema(tags=["auth"])
class PersonalTokenViewSet(
    AuthRateLimited, mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The caller's personal access tokens; the secret is only in the creation response."""

    permission_classes = [IsPerson]
    serializer_class = s.PersonalTokenSerializer
    queryset = PersonalAccessToken.objects.none()  # typed for the schema; get_queryset scopes it
    ordering_fields = ["created_at", "name", "last_used_at", "expires_at"]
    filterset_fields = ["name"]

    def get_queryset(self):
        return selectors.personal_token_list(user=self.request.user)

    @extend_schema(responses={201: s.PersonalTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        data = _valid(s.PersonalTokenSerializer, request)
        token, raw = services.personal_token_create(
            user=request.user, name=data["name"], expires_at=data.get("expires_at")
        )
        token.token = raw
        return Response(s.PersonalTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance) -> None:
        services.personal_token_revoke(token=instance, actor=self.request.user)


@extend_schema(tags=["staff"])
class StaffUserViewSet(viewsets.ModelViewSet):
    """`/api/admin/users`: staff manage accounts; DELETE deactivates (status `inactive`)."""

    permission_classes = [StaffModelPermissions]
    serializer_class = s.StaffUserSerializer
    queryset = User.objects.none()  # typed for the schema; get_queryset gives the rows
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filter_backends = [
        *viewsets.ModelViewSet.filter_backends,
        filters.SearchFilter,
    ]
    filterset_class = StaffUserFilter
    search_fields = ["email", "name"]
    ordering_fields = ["email", "name", "created_at", "updated_at", "last_login", "status"]

    def get_queryset(self):
        return selectors.user_list_for_staff()

    def perform_create(self, serializer) -> None:
        serializer.instance = services.user_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = services.user_update(
            user=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance) -> None:
        services.user_set_status(user=instance, status=User.Status.INACTIVE, actor=self.request.user)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
