"""Serializers of the deployments API; field checks come from `deployments.validation`."""
import re

from rest_framework import serializers

from deployments import remote, validation
from deployments.models import DeployKey, Deployment, Host, Project

ADDRESS_RE = re.compile(r"^(?!-)[A-Za-z0-9.:-]{1,255}$")  # a DNS name, IPv4 or IPv6 address
USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


def _check(check, value):
    try:
        return check(value)
    except validation.Invalid as exc:
        raise serializers.ValidationError(exc.detail) from None


class DeployKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = DeployKey
        fields = ["public_key", "fingerprint", "created_at"]
        read_only_fields = fields


class HostSerializer(serializers.ModelSerializer):
    host_key = serializers.CharField(
        max_length=16384, help_text="The host's public key line to pin, e.g. the output of `ssh-keyscan -t ed25519`: "
                                    "`ssh-ed25519 AAAA…`.")
    port = serializers.IntegerField(min_value=1, max_value=65535, default=22)

    class Meta:
        model = Host
        fields = ["id", "name", "address", "port", "username", "host_key", "trust_on_first_use", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "trust_on_first_use", "created_at", "updated_at"]

    def validate_name(self, value):
        return _check(validation.dns_label, value)

    def validate_address(self, value):
        if not ADDRESS_RE.fullmatch(value):
            raise serializers.ValidationError("Must be a host name or an IP address.")
        return value

    def validate_username(self, value):
        if not USERNAME_RE.fullmatch(value):
            raise serializers.ValidationError("Must be a POSIX user name (lowercase, at most 32 characters).")
        return value

    def validate_host_key(self, value):
        # The first line only (ssh-keyscan prints a comment line first: keep the key's own line).
        lines = [line.strip() for line in value.splitlines() if line.strip() and not line.startswith("#")]
        if len(lines) != 1:
            raise serializers.ValidationError("Give exactly one public key line.")
        parts = lines[0].split()
        if len(parts) >= 3 and parts[0] not in remote.KEY_ALGORITHMS:  # "host ssh-ed25519 AAAA" (keyscan)
            parts = parts[1:]
        try:
            remote.parse_public_key(" ".join(parts[:2]))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return " ".join(parts[:2])


class ProjectSerializer(serializers.ModelSerializer):
    host = serializers.SlugRelatedField(slug_field="name", queryset=Host.objects.none(),
                                        help_text="The host's name.")
    services = serializers.JSONField(
        default=list, help_text="`[{name, log_file?, restart?, healthcheck_url?}]`: names are DNS labels, "
                                "`log_file` relative to `directory`, `restart` an argv list.")
    deploy_steps = serializers.JSONField(
        required=False, allow_null=True,
        help_text="Argv lists run in `directory` in order; null or absent: clone/pull `repository` and "
                  "`docker compose up -d --remove-orphans`.")
    timeout_seconds = serializers.IntegerField(min_value=10, max_value=86400, required=False,
                                               help_text="The whole deploy's limit; past it the deploy fails "
                                                         "and opens an incident.")
    last_deployment = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "host", "directory", "repository", "branch", "services", "deploy_steps", "enabled",
                  "timeout_seconds", "config_hash", "last_deployment", "created_at", "updated_at"]
        read_only_fields = ["id", "config_hash", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenant = self.context.get("tenant")
        if tenant is not None:
            self.fields["host"].queryset = Host.objects.for_tenant(tenant)

    def get_last_deployment(self, project) -> dict | None:
        pk = getattr(project, "last_deployment_id", None)
        if pk is None:
            return None
        return {"id": str(pk), "status": project.last_deployment_status}

    def validate_name(self, value):
        return _check(validation.dns_label, value)

    def validate_directory(self, value):
        return _check(validation.directory, value)

    def validate_repository(self, value):
        if value and not validation.REPOSITORY_RE.fullmatch(value):
            raise serializers.ValidationError(
                "Must be a git URL (https://, ssh://, git://, file:///, user@host:path) or an absolute path.")
        return value

    def validate_branch(self, value):
        if value and not validation.BRANCH_RE.fullmatch(value):
            raise serializers.ValidationError("Must be a branch name (letters, digits, '.', '_', '/', '-').")
        return value

    def validate_services(self, value):
        return _check(validation.services, value)

    def validate_deploy_steps(self, value):
        return None if value is None else _check(validation.deploy_steps, value)


class DeploymentSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.name", read_only=True)
    run_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Deployment
        fields = ["id", "project", "run_id", "status", "config_hash", "requested_by", "trigger", "requests", "error",
                  "incident_id", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class ReconcileSerializer(serializers.Serializer):
    deployments = DeploymentSerializer(many=True, read_only=True)
    unchanged = serializers.ListField(child=serializers.CharField(), read_only=True,
                                      help_text="Enabled projects already deployed (or deploying) as configured.")
