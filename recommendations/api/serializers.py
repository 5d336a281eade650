"""Recommendations API payloads. Validation lives here (events: `services._parse_event`, for
speed); writes go through the services."""
import json

from rest_framework import serializers

from core.api.query import QueryParamsSerializer
from recommendations.models import CATEGORY_MAX, EXTERNAL_ID_MAX, InteractionType, Item, RecommendationModel
from recommendations.services import MAX_INTERACTIONS_PER_CALL, MAX_ITEMS_PER_CALL

MAX_CATEGORIES = 50
MAX_PROPERTIES_BYTES = 16 * 1024


def validate_item_id(value: str) -> str:
    # The id is a path segment (/items/{id}): a slash or a control character could not be addressed.
    if "/" in value or any(ord(char) < 32 for char in value) or not value.strip():
        raise serializers.ValidationError("Use printable characters other than '/'.")
    return value


class ItemFieldsSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=500)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    categories = serializers.ListField(child=serializers.CharField(max_length=CATEGORY_MAX), required=False,
                                       max_length=MAX_CATEGORIES)
    properties = serializers.DictField(required=False, help_text="Any JSON object (≤ 16 KiB).")
    hidden = serializers.BooleanField(required=False, help_text="Hidden items are never recommended.")

    def validate_properties(self, value):
        if len(json.dumps(value)) > MAX_PROPERTIES_BYTES:
            raise serializers.ValidationError(f"At most {MAX_PROPERTIES_BYTES} bytes of JSON.")
        return value


class ItemInputSerializer(ItemFieldsSerializer):
    """One item of an upload; its `id` is the tenant's own."""

    id = serializers.CharField(max_length=EXTERNAL_ID_MAX, validators=[validate_item_id])


class ItemUpdateSerializer(ItemFieldsSerializer):
    title = serializers.CharField(max_length=500, required=False)


class ItemBatchSerializer(serializers.Serializer):
    # Each element is validated on its own (ItemInputSerializer), so one bad item rejects only itself.
    items = serializers.ListField(child=serializers.JSONField(), allow_empty=False, max_length=MAX_ITEMS_PER_CALL)


class ItemBatchDocSerializer(serializers.Serializer):
    """The upload as documented (validated item by item)."""

    items = ItemInputSerializer(many=True, max_length=MAX_ITEMS_PER_CALL)


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    errors = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Per field, a list of messages; for a list field, the messages per position in it.",
    )


class ItemUpsertResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    rejected = RejectionSerializer(many=True)


class ItemSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", read_only=True)

    class Meta:
        model = Item
        fields = ["id", "title", "description", "categories", "properties", "hidden", "created_at", "updated_at"]
        read_only_fields = fields


class InteractionDocSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=EXTERNAL_ID_MAX, help_text="Your own id of the user.")
    item_id = serializers.CharField(max_length=EXTERNAL_ID_MAX, help_text="The item's id (uploaded before).")
    type = serializers.ChoiceField(choices=InteractionType.choices)
    value = serializers.FloatField(required=False, allow_null=True, help_text="A rating's stars (0–5).")
    timestamp = serializers.DateTimeField(required=False, help_text="When it happened; default now.")
    id = serializers.CharField(required=False, max_length=EXTERNAL_ID_MAX,
                               help_text="Idempotency id: an event with an id already stored is a duplicate.")


class InteractionBatchDocSerializer(serializers.Serializer):
    interactions = InteractionDocSerializer(many=True, max_length=MAX_INTERACTIONS_PER_CALL)


class EventListField(serializers.ListField):
    """A list, checked for its shape and length only: each event is checked by
    `services.interactions_ingest`, so DRF's per-element pass (~2 µs an event) is skipped."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not self.allow_empty and not data:
            self.fail("empty")
        return data


class InteractionBatchSerializer(serializers.Serializer):
    interactions = EventListField(allow_empty=False, max_length=MAX_INTERACTIONS_PER_CALL)


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectionSerializer(many=True)


class RecommendationRequestSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=EXTERNAL_ID_MAX)
    count = serializers.IntegerField(min_value=1, max_value=100, default=10)
    category = serializers.CharField(max_length=CATEGORY_MAX, required=False)
    exclude_seen = serializers.BooleanField(default=True)


class RecommendedItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    score = serializers.FloatField()


class RecommendationSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    strategy = serializers.ChoiceField(choices=["personalized", "popular"])
    model_version = serializers.IntegerField(allow_null=True)
    items = RecommendedItemSerializer(many=True)


class SimilarQuerySerializer(QueryParamsSerializer):
    count = serializers.IntegerField(min_value=1, max_value=100, default=10)


class SimilarItemsSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    strategy = serializers.ChoiceField(choices=["collaborative", "content"])
    model_version = serializers.IntegerField(allow_null=True)
    items = RecommendedItemSerializer(many=True)


class RecommendationModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = RecommendationModel
        fields = ["version", "status", "algorithm", "trained_at", "interactions", "items", "users", "metrics",
                  "size_bytes", "duration_ms", "error", "created_at"]
        read_only_fields = fields
