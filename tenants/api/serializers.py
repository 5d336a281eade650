"""Serializers of the tenants API."""
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenants.billing import TAX_TYPES, clean_billing_account
from tenants.models import Invitation, Membership, Plan, Tenant
from tenants.policy import Role


class BillingAccountSerializer(serializers.Serializer):
    company_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company_address = serializers.CharField(max_length=500, required=False, allow_blank=True)
    tax_number_type = serializers.ChoiceField(choices=TAX_TYPES, required=False, allow_blank=True)
    tax_number = serializers.CharField(max_length=32, required=False, allow_blank=True)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2, e.g. DE."
    )

    def to_internal_value(self, data):
        super().to_internal_value(data)  # JSON types and choices, field by field
        # A partial update (PATCH) changes only the fields sent: they are laid over the stored
        # account before validating, so cross-field rules (tax number vs country) see the result.
        parent = self.parent
        if isinstance(data, dict) and parent is not None and parent.partial and parent.instance is not None:
            data = {**(parent.instance.billing_account or {}), **data}
        # One validator for API, admin and services; it reports errors under `billing_account`.
        try:
            return clean_billing_account(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(exc.detail["billing_account"])

    def to_representation(self, instance):
        return {field: (instance or {}).get(field, "") for field in self.fields}


class TenantSerializer(serializers.ModelSerializer):
    billing_account = BillingAccountSerializer(required=False)
    plan = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    role = serializers.SerializerMethodField(help_text="Your role in this tenant.")

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "status", "billing_account", "plan", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "slug", "status", "plan", "role", "created_at", "updated_at"]

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, tenant) -> str | None:
        if hasattr(tenant, "my_role"):
            return tenant.my_role
        return self.context.get("role")


class TenantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    slug = serializers.SlugField(max_length=50, required=False, help_text="Defaults to one made from the name.")
    billing_account = BillingAccountSerializer(required=False)


class TenantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False)
    billing_account = BillingAccountSerializer(required=False)


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role", "joined_at"]
        read_only_fields = ["user_id", "email", "name", "joined_at"]


class MemberCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, help_text="The address to invite (an account or not).")
    user_id = serializers.UUIDField(required=False)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    def validate(self, attrs):
        if bool(attrs.get("email")) == bool(attrs.get("user_id")):
            raise serializers.ValidationError({"email": ["Give either `email` or `user_id`."]})
        return attrs


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    invited_by = serializers.UUIDField(source="invited_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = [
            "id", "email", "role", "status", "invited_by", "expires_at", "accepted_at", "revoked_at", "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "accepted", "revoked", "expired"]))
    def get_status(self, invitation) -> str:
        return invitation.status_at(timezone.now())


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=256)


class TenantBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class InvitationAcceptedSerializer(serializers.ModelSerializer):
    tenant = TenantBriefSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["tenant", "role", "joined_at"]
        read_only_fields = fields


# --- Staff ------------------------------------------------------------------------------------
class StaffTenantSerializer(serializers.ModelSerializer):
    billing_account = BillingAccountSerializer(required=False)
    plan = serializers.SlugRelatedField(
        slug_field="slug", queryset=Plan.objects.all(), required=False, allow_null=True, help_text="A plan's slug."
    )
    slug = serializers.SlugField(max_length=50, required=False)
    owner_email = serializers.EmailField(
        write_only=True, required=False, help_text="On create: an existing account that becomes the owner."
    )
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Tenant
        fields = [
            "id", "name", "slug", "status", "billing_account", "plan", "owner_email", "member_count",
            "created_at", "updated_at",
        ]
        read_only_fields = ["id", "member_count", "created_at", "updated_at"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:  # the slug addresses the tenant: stable once created
            fields["slug"].read_only = True
            fields["owner_email"].read_only = True
        return fields
