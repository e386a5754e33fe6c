from __future__ import annotations

from rest_framework import serializers

from ..models import Job, RawEvent, Run, RunTransition


class JobSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    node = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "node", "project", "namespace", "name", "description", "job_type", "owners", "source_code_location",
                  "sql", "created_at", "updated_at"]

    def get_node(self, obj: Job) -> str:
        return f"job:{obj.pk}"


class TransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunTransition
        fields = ["event_type", "event_time", "raw_event"]


class RunSerializer(serializers.ModelSerializer):
    job = serializers.PrimaryKeyRelatedField(read_only=True)
    job_name = serializers.CharField(source="job.name", read_only=True)
    run_id = serializers.UUIDField(source="run_uuid", read_only=True)
    node = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = ["id", "run_id", "node", "job", "job_name", "state", "state_time", "started_at", "ended_at", "nominal_start",
                  "nominal_end", "parent_run_uuid", "parent_job", "error_message", "created_at", "updated_at"]

    def get_node(self, obj: Run) -> str:
        return f"run:{obj.run_uuid}"


class RunDetailSerializer(RunSerializer):
    transitions = TransitionSerializer(many=True, read_only=True)
    inputs = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "facets", "transitions", "inputs", "outputs"]

    def _io(self, obj: Run, direction: str) -> list[int]:
        return sorted(io.asset_id for io in obj.io.all() if io.direction == direction)

    def get_inputs(self, obj: Run) -> list[int]:
        return self._io(obj, "in")

    def get_outputs(self, obj: Run) -> list[int]:
        return self._io(obj, "out")


class RawEventSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    digest = serializers.SerializerMethodField()
    kind = serializers.CharField(read_only=True, help_text="run, dataset or job (RunEvent, DatasetEvent, JobEvent).")

    class Meta:
        model = RawEvent
        fields = ["id", "project", "digest", "kind", "event_type", "event_time", "received_at", "producer", "schema_url",
                  "run_uuid", "job_namespace", "job_name"]

    def get_digest(self, obj: RawEvent) -> str:
        return bytes(obj.digest).hex()


class RawEventDetailSerializer(RawEventSerializer):
    class Meta(RawEventSerializer.Meta):
        fields = [*RawEventSerializer.Meta.fields, "payload"]
