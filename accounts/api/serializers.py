"""Serializers of the accounts API: input validation and the public shapes of docs/accounts-and-tenants.md."""
from rest_framework import serializers

from accounts.models import PersonalAccessToken, User


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "type", "verification_status", "status", "created_at", "updated_at"]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, style={"input_type": "password"})
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=1024)


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=2048)


class SessionSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class ProfileUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, allow_blank=True)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=128)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    new_password = serializers.CharField(max_length=128)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class PersonalTokenSerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(source="display_prefix", read_only=True)

    class Meta:
        model = PersonalAccessToken
        fields = ["id", "name", "prefix", "expires_at", "last_used_at", "created_at"]
        read_only_fields = ["id", "prefix", "last_used_at", "created_at"]


class PersonalTokenCreatedSerializer(PersonalTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret; shown only in this response.")

    class Meta(PersonalTokenSerializer.Meta):
        fields = [*PersonalTokenSerializer.Meta.fields, "token"]


# --- Staff ------------------------------------------------------------------------------------
class StaffUserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        max_length=128, write_only=True, required=False, help_text="Optional; without one the user resets it."
    )

    class Meta:
        model = User
        fields = [
            "id", "email", "name", "type", "verification_status", "status", "is_staff",
            "password", "last_login", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "last_login", "created_at", "updated_at"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:  # the address is the login: not editable afterwards
            fields["email"].read_only = True
            fields["password"].read_only = True
        return fields


class NotificationPreferencesSerializer(serializers.Serializer):
    """E-mail categories; `security` is always true (sending false is a 400)."""

    security = serializers.BooleanField(required=False, help_text="Always on.")
    invitations = serializers.BooleanField(required=False)
    incidents = serializers.BooleanField(required=False)
    billing = serializers.BooleanField(required=False)
    product = serializers.BooleanField(required=False)
