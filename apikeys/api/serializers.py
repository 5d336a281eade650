"""Serializers of the apikeys API: keys (secret only on create/rotate), plans, usage, calls."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from apikeys.models import ApiCall, ApiKey
from core.api.query import QueryParamsSerializer
from core.rates import parse_rate, parse_rates
from tenants.models import Plan
from tenants.policy import Scope

SCOPE_CHOICES = [scope.value for scope in Scope]
DAY_FORMATS = ["iso-8601", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"]


def _rate(value: str) -> str:
    if not value:
        return ""
    try:
        return parse_rate(value).text
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class ApiKeySerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(source="display_prefix", read_only=True, help_text="Shown instead of the secret.")
    revoked = serializers.BooleanField(source="is_revoked", read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPE_CHOICES))

    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "prefix", "scopes", "expires_at", "rate_limit", "created_by", "created_at",
            "last_used_at", "revoked", "revoked_at", "rotated_at",
        ]
        read_only_fields = fields


class ApiKeyWithSecretSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The full key. Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


def _permissions_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPE_CHOICES), required=False, write_only=True,
        help_text="Alias of `scopes` (what some clients call them); give one or the other.",
    )


class _KeyInputMixin:
    def validate(self, attrs: dict) -> dict:
        # `permissions` is another name for `scopes`; the rest of the platform sees `scopes` only.
        if "permissions" in attrs:
            permissions = attrs.pop("permissions")
            if "scopes" in self.initial_data and attrs.get("scopes") != permissions:
                raise serializers.ValidationError({"permissions": ["Give scopes or permissions, not both."]})
            attrs["scopes"] = permissions
        return attrs

    def validate_permissions(self, value: list[str]) -> list[str]:
        return self.validate_scopes(value)

    def validate_scopes(self, value: list[str]) -> list[str]:
        if not value:
            raise serializers.ValidationError("Give at least one scope.")
        grantable = self.context["grantable_scopes"]
        above = sorted(set(value) - set(grantable))
        if above:
            raise serializers.ValidationError(f"You cannot grant scopes beyond your own rights: {', '.join(above)}.")
        return sorted(set(value))

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.")
        return value

    def validate_rate_limit(self, value: str) -> str:
        return _rate(value)


class ApiKeyCreateSerializer(_KeyInputMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPE_CHOICES), default=["read"])
    permissions = _permissions_field()
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    rate_limit = serializers.CharField(required=False, allow_blank=True, default="", help_text='e.g. "100/m"')


class ApiKeyUpdateSerializer(_KeyInputMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPE_CHOICES), required=False)
    permissions = _permissions_field()
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    rate_limit = serializers.CharField(required=False, allow_blank=True)


class PlanSerializer(serializers.ModelSerializer):
    rates = serializers.ListField(
        child=serializers.CharField(), help_text='Like ["1000/m", "50000/h", "1000000/d"]; units s, m, h, d.'
    )

    class Meta:
        model = Plan
        fields = [
            "id", "name", "slug", "rates", "price_cents", "currency", "interval", "included_requests",
            "overage_cents_per_1000", "stripe_price_id", "storage_bytes", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"storage_bytes": {"min_value": 0, "help_text": "Stored bytes a tenant may keep; null: no cap."}}

    def validate_currency(self, value: str) -> str:
        value = value.strip().lower()
        if len(value) != 3 or not value.isalpha():
            raise serializers.ValidationError("An ISO 4217 code, e.g. eur or usd.")
        return value

    def validate_rates(self, value: list[str]) -> list[str]:
        try:
            return [rate.text for rate in parse_rates(value)]
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class UsageQuerySerializer(QueryParamsSerializer):
    to = serializers.DateField(required=False, input_formats=DAY_FORMATS)
    group_by = serializers.ChoiceField(choices=["day", "endpoint", "api_key"], default="day")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # `from` is a Python keyword, so this field cannot be declared as an attribute.
        self.fields["from"] = serializers.DateField(required=False, input_formats=DAY_FORMATS)

    def validate(self, attrs):
        today = timezone.now().date()
        attrs["to"] = attrs.get("to") or today
        attrs["from"] = attrs.get("from") or attrs["to"] - timezone.timedelta(days=29)
        if attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"from": ["`from` must not be after `to`."]})
        if (attrs["to"] - attrs["from"]).days > 366:
            raise serializers.ValidationError({"from": ["Ask for at most 366 days at once."]})
        return attrs


class UsageTotalSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()


class UsageGroupSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True, help_text="Day (YYYY-MM-DD), route pattern or API key id.")
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)


class UsageSerializer(serializers.Serializer):
    to = serializers.DateField()
    total = UsageTotalSerializer()
    groups = UsageGroupSerializer(many=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField()


class ApiCallSerializer(serializers.ModelSerializer):
    endpoint = serializers.CharField(source="route")
    api_key_id = serializers.UUIDField(allow_null=True)
    user_id = serializers.UUIDField(allow_null=True)
    time = serializers.DateTimeField(source="created_at")

    class Meta:
        model = ApiCall
        fields = ["id", "request_id", "endpoint", "method", "status", "duration_ms", "api_key_id", "user_id", "time"]
        read_only_fields = fields
