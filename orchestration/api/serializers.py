"""Serializers of the orchestration API (validation in, representation out)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestration.definitions import MAX_TIMEOUT_SECONDS
from orchestration.models import (
    SECRET_NAME_RE,
    Agent,
    AgentTask,
    Cluster,
    ClusterVersion,
    Run,
    StepLog,
    StepRun,
    StepStatus,
)


class SatelliteSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    input_schema = serializers.JSONField()
    output_schema = serializers.JSONField()
    default_timeout_seconds = serializers.IntegerField(source="default_timeout")


class ExecuteSerializer(serializers.Serializer):
    inputs = serializers.JSONField(default=dict)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False)

    def validate_inputs(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object.")
        return value


class ExecutionSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    output = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    attempts = serializers.SerializerMethodField()
    duration_ms = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "satellite",
            "status",
            "inputs",
            "output",
            "error",
            "attempts",
            "timeout_seconds",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
        ]

    def _step(self, run: Run) -> StepRun | None:
        steps = list(run.steps.all())  # prefetched
        return steps[0] if steps else None

    @extend_schema_field(
        serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed", "cancelled", "timed_out"])
    )
    def get_status(self, run: Run) -> str:
        if run.is_terminal:
            return run.status
        step = self._step(run)
        return "running" if step and step.status == StepStatus.RUNNING else "queued"

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_output(self, run: Run):
        step = self._step(run)
        return step.output if step else None

    def get_error(self, run: Run) -> str:
        step = self._step(run)
        return (step.error if step else "") or run.error

    def get_attempts(self, run: Run) -> int:
        step = self._step(run)
        return step.attempts if step else 0

    def get_duration_ms(self, run: Run) -> int | None:
        step = self._step(run)
        return step.duration_ms if step else None


class ClusterWriteSerializer(serializers.Serializer):
    definition = serializers.CharField(trim_whitespace=False, help_text="The cluster definition (YAML).")


class ClusterSerializer(serializers.ModelSerializer):
    concurrency = serializers.SerializerMethodField()
    inputs = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "description",
            "version",
            "definition",
            "schedule",
            "concurrency",
            "inputs",
            "steps",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_concurrency(self, cluster: Cluster):
        return cluster.spec.get("concurrency")

    @extend_schema_field(serializers.JSONField())
    def get_inputs(self, cluster: Cluster):
        return cluster.spec.get("inputs", {})

    @extend_schema_field(serializers.ListField(child=serializers.JSONField()))
    def get_steps(self, cluster: Cluster):
        return [
            {"id": s["id"], "satellite": s["satellite"], "depends_on": s["depends_on"], "on_failure": s["handler"]}
            for s in cluster.spec.get("steps", []) + cluster.spec.get("on_failure", [])
        ]


class ClusterVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClusterVersion
        fields = ["version", "definition", "created_at"]


class TriggerSerializer(serializers.Serializer):
    inputs = serializers.JSONField(default=dict)

    def validate_inputs(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object.")
        return value


class StepRunSerializer(serializers.ModelSerializer):
    on_failure = serializers.BooleanField(source="is_handler")
    duration_ms = serializers.IntegerField(allow_null=True)

    class Meta:
        model = StepRun
        fields = [
            "step_id",
            "satellite",
            "status",
            "attempts",
            "on_failure",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "output",
            "error",
        ]


class RunSerializer(serializers.ModelSerializer):
    steps = StepRunSerializer(many=True, read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "cluster_id",
            "version",
            "status",
            "trigger",
            "inputs",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "steps",
        ]


class StepLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = StepLog
        fields = ["id", "step_id", "attempt", "level", "message", "created_at"]


class SecretSerializer(serializers.Serializer):
    name = serializers.RegexField(SECRET_NAME_RE, max_length=64)
    value = serializers.CharField(write_only=True, max_length=16384, trim_whitespace=False)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class SecretValueSerializer(serializers.Serializer):
    value = serializers.CharField(write_only=True, max_length=16384, trim_whitespace=False)


class AgentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = ["id", "name", "description", "prompt", "model", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness per tenant is checked by the service (409), not here.
        validators: list = []


class AgentTaskSerializer(serializers.ModelSerializer):
    # Nullable in responses: a task outlives its agent (the agent may be deleted later).
    agent_id = serializers.UUIDField(allow_null=True)
    execution_id = serializers.UUIDField(read_only=True, allow_null=True)
    input = serializers.JSONField(required=False)

    class Meta:
        model = AgentTask
        fields = [
            "id",
            "title",
            "description",
            "agent_id",
            "input",
            "status",
            "result",
            "error",
            "execution_id",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = ["id", "status", "result", "error", "created_at", "started_at", "finished_at"]

    def validate_agent_id(self, value):
        if value is None:
            raise serializers.ValidationError("This field may not be null.")
        return value
