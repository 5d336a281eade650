"""Serializers of the files API."""
from django.utils import timezone
from rest_framework import serializers

from files.models import File, FileAccessLog, FileShare
from files.services import share_state


class FileSerializer(serializers.ModelSerializer):
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)
    content_type = serializers.CharField(read_only=True, help_text="Detected from the bytes, not the client's claim.")

    class Meta:
        model = File
        fields = ["id", "name", "size", "content_type", "sha256", "created_at", "created_by"]
        read_only_fields = fields


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The bytes (multipart); its filename becomes the file's name.")


class FileShareSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField(help_text="active, expired, exhausted or revoked.")
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = FileShare
        fields = ["id", "expires_at", "max_downloads", "downloads", "state", "revoked_at", "created_at", "created_by"]
        read_only_fields = fields

    def get_state(self, share: FileShare) -> str:
        return share_state(share)


class FileShareWithUrlSerializer(FileShareSerializer):
    url = serializers.CharField(read_only=True, help_text="The public link, /s/{token}. Shown once.")

    class Meta(FileShareSerializer.Meta):
        fields = ["id", "url", *FileShareSerializer.Meta.fields[1:]]
        read_only_fields = fields


class FileShareCreateSerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    max_downloads = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2_000_000_000)

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class FileAccessLogSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="The member's id, the API key's id, or the share's id.")

    class Meta:
        model = FileAccessLog
        fields = ["at", "via", "actor", "ip", "bytes", "status"]
        read_only_fields = fields

    def get_actor(self, row: FileAccessLog) -> str | None:
        actor = {"member": row.user_id, "api_key": row.api_key_id, "share": row.share_id}[row.via]
        return str(actor) if actor is not None else None
