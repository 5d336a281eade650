"""Views of the tenants API: thin — validate with a serializer, call a service, answer."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import filters, mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.addresses import normalize_email
from accounts.api.permissions import IsPerson, StaffModelPermissions
from accounts.models import User
from core.api.tenancy import TenantScopedViewSet, resolve_tenant_context
from tenants import selectors, services
from tenants.api import serializers as s
from tenants.api.filters import InvitationFilter, MemberFilter, StaffTenantFilter, TenantFilter
from tenants.api.permissions import grant_ceiling
from tenants.models import Invitation, Membership, Tenant
from tenants.policy import Action

SLUG_PARAMETER = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="The tenant's slug.")


# Services get `request.user` as the actor: a User, or an API key's principal, which the audit
# log records by key id (`self.actor()` would drop it; it is meant for `created_by`).


def _valid(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["tenants"])
class TenantListViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """`/tenants`: the caller's tenants; creating one makes the caller its owner."""

    permission_classes = [IsPerson]
    serializer_class = s.TenantSerializer
    queryset = Tenant.objects.none()  # typed for the schema; get_queryset scopes it
    filterset_class = TenantFilter
    ordering_fields = ["name", "slug", "created_at"]

    def get_queryset(self):
        return selectors.tenant_list(user=self.request.user)

    @extend_schema(request=s.TenantCreateSerializer, responses={201: s.TenantSerializer})
    def create(self, request, *args, **kwargs):
        tenant = services.tenant_create(creator=request.user, **_valid(s.TenantCreateSerializer, request))
        tenant.my_role = "owner"
        return Response(s.TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)


class TenantSlugMixin:
    """Tenant-scoped endpoints under `/tenants/{slug}/…`: the path names the tenant."""

    slug_kwarg = "tenant_slug"

    def get_tenant_context(self):
        return resolve_tenant_context(self.request, slug=self.kwargs[self.slug_kwarg])


@extend_schema(tags=["tenants"])
class TenantDetailViewSet(
    TenantSlugMixin,
    TenantScopedViewSet,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
):
    """`/tenants/{slug}`: read (viewer+), edit (admin+), soft delete (owner)."""

    queryset = Tenant.objects.select_related("plan")
    serializer_class = s.TenantSerializer
    lookup_field = "slug"
    slug_kwarg = "slug"
    http_method_names = ["get", "patch", "delete", "head", "options"]
    action_policy = {"retrieve": Action.READ, "partial_update": Action.ADMINISTER, "destroy": Action.OWN}

    def get_queryset(self):
        return self.queryset.filter(pk=self.tenant.pk)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "slug" in self.kwargs:
            context["role"] = self.get_tenant_context().role
        return context

    @extend_schema(request=s.TenantUpdateSerializer, responses={200: s.TenantSerializer})
    def partial_update(self, request, *args, **kwargs):
        tenant = self.get_object()
        data = _valid(s.TenantUpdateSerializer, request, instance=tenant, partial=True)
        tenant = services.tenant_update(tenant=tenant, actor=self.request.user, **data)
        return Response(self.get_serializer(tenant).data)

    def perform_destroy(self, instance) -> None:
        services.tenant_delete(tenant=instance, actor=self.request.user)


@extend_schema(tags=["tenants"], parameters=[SLUG_PARAMETER])
class MemberViewSet(
    TenantSlugMixin,
    TenantScopedViewSet,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
):
    """`/tenants/{slug}/members`: anyone in the tenant reads; admins manage; anyone may leave."""

    queryset = Membership.objects.select_related("user")
    serializer_class = s.MemberSerializer
    lookup_field = "user_id"
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_class = MemberFilter
    ordering_fields = ["joined_at", "role", "user__email"]
    action_policy = {
        "list": Action.READ,
        "create": Action.ADMINISTER,
        "partial_update": Action.ADMINISTER,
        "destroy": Action.ADMINISTER,
    }

    def required_action(self) -> Action:
        # Leaving a tenant is everyone's right; the last-owner rule still applies.
        if self.action == "destroy" and self.kwargs.get("user_id") == str(getattr(self.request.user, "pk", "")):
            return Action.READ
        return super().required_action()

    @extend_schema(request=s.MemberCreateSerializer, responses={202: s.InvitationSerializer})
    def create(self, request, *args, **kwargs):
        """Nobody joins a tenant without consenting: adding someone sends them an invitation to
        accept, and the answer (202 with the invitation) is the same whether or not an account
        has the address, so it tells nothing about who has one."""
        data = _valid(s.MemberCreateSerializer, request)
        email = data.get("email")
        if email is None:
            user = User.objects.filter(pk=data["user_id"]).first()
            if user is None:  # ids are not guessable; this enumerates nothing
                raise ValidationError({"user_id": ["No account with this id; invite by e-mail instead."]})
            email = user.email
        invitation = services.invitation_create(
            tenant=self.tenant,
            email=email,
            role=data["role"],
            actor=self.request.user,
            actor_role=grant_ceiling(self.get_tenant_context()),
        )
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.MemberUpdateSerializer, responses={200: s.MemberSerializer})
    def partial_update(self, request, *args, **kwargs):
        membership = self.get_object()
        data = _valid(s.MemberUpdateSerializer, request)
        membership = services.membership_change_role(
            membership=membership,
            role=data["role"],
            actor=self.request.user,
            actor_role=grant_ceiling(self.get_tenant_context()),
        )
        return Response(s.MemberSerializer(membership).data)

    def perform_destroy(self, instance) -> None:
        services.membership_remove(
            membership=instance, actor=self.request.user, actor_role=grant_ceiling(self.get_tenant_context())
        )


@extend_schema(tags=["tenants"], parameters=[SLUG_PARAMETER])
class InvitationViewSet(
    TenantSlugMixin,
    TenantScopedViewSet,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
):
    """`/tenants/{slug}/invitations`: admins and owners invite by e-mail; DELETE revokes."""

    queryset = Invitation.objects.select_related("invited_by")
    serializer_class = s.InvitationSerializer
    filterset_class = InvitationFilter
    ordering_fields = ["created_at", "expires_at", "email"]
    action_policy = {"list": Action.ADMINISTER, "create": Action.ADMINISTER, "destroy": Action.ADMINISTER}

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def create(self, request, *args, **kwargs):
        data = _valid(s.InvitationCreateSerializer, request)
        invitation = services.invitation_create(
            tenant=self.tenant,
            actor=self.request.user,
            actor_role=grant_ceiling(self.get_tenant_context()),
            **data,
        )
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance) -> None:
        services.invitation_revoke(invitation=instance, actor=self.request.user)


class InvitationAcceptView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        request=s.InvitationAcceptSerializer, responses={200: s.InvitationAcceptedSerializer}, tags=["tenants"]
    )
    def post(self, request):
        membership = services.invitation_accept(user=request.user, **_valid(s.InvitationAcceptSerializer, request))
        return Response(s.InvitationAcceptedSerializer(membership).data)


@extend_schema(tags=["staff"])
class StaffTenantViewSet(viewsets.ModelViewSet):
    """`/api/admin/tenants`: staff create, edit, suspend/reactivate (PATCH `status`) and
    deactivate (DELETE → status `deleted`) tenants and set their plan by slug."""

    permission_classes = [StaffModelPermissions]
    serializer_class = s.StaffTenantSerializer
    queryset = Tenant.objects.none()  # typed for the schema; get_queryset gives the rows
    filter_backends = [*viewsets.ModelViewSet.filter_backends, filters.SearchFilter]
    filterset_class = StaffTenantFilter
    search_fields = ["name", "slug", "billing_account__company_name"]
    ordering_fields = ["name", "slug", "status", "created_at", "updated_at", "member_count"]

    def get_queryset(self):
        return selectors.tenant_list_for_staff()

    # Changing the status needs more than `change_tenant`, as in the admin's actions.
    status_permissions = {
        Tenant.Status.ACTIVE: "tenants.suspend_tenant",
        Tenant.Status.SUSPENDED: "tenants.suspend_tenant",
        Tenant.Status.DELETED: "tenants.delete_tenant",
    }

    def _check_status_permission(self, before: str, after: str | None) -> None:
        if after is not None and after != before and not self.request.user.has_perm(self.status_permissions[after]):
            self.permission_denied(self.request, message="You may not change this tenant's status.")

    def perform_create(self, serializer) -> None:
        data = dict(serializer.validated_data)
        owner_email = data.pop("owner_email", None)
        status_ = data.pop("status", None)
        self._check_status_permission(Tenant.Status.ACTIVE, status_)
        owner = None
        if owner_email:
            owner = User.objects.filter(email=normalize_email(owner_email)).first()
            if owner is None:
                raise ValidationError({"owner_email": ["No account with this address."]})
        tenant = services.tenant_create(creator=owner, actor=self.request.user, **data)
        if status_ and status_ != tenant.status:
            tenant = services.tenant_set_status(tenant=tenant, status=status_, actor=self.request.user)
        serializer.instance = self.get_queryset().get(pk=tenant.pk)

    def perform_update(self, serializer) -> None:
        self._check_status_permission(serializer.instance.status, serializer.validated_data.get("status"))
        services.tenant_update(tenant=serializer.instance, actor=self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance) -> None:
        services.tenant_delete(tenant=instance, actor=self.request.user)
