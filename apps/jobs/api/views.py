"""Jobs over the REST API: submit (202 at once, idempotent with ``Idempotency-Key``), read with the
decision and every reason, long-poll with ``?wait=``, and approve / deny / cancel / resubmit."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.errors import error_response
from apps.core.api.viewsets import RestrictedViewSetMixin
from apps.core.services import etag_for

from .. import notify, services
from ..filters import JobFilterSet
from ..models import Job, JobInput
from .serializers import JobCreateSerializer, JobNoteSerializer, JobSerializer

MAX_WAIT = 60.0
IDEMPOTENCY_KEY_MAX = 200


class JobViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Training, fine-tuning, inference and evaluation jobs. A submitted job is judged by the admission
    policies on a worker; its state, decision and reasons are here."""

    queryset = Job.objects.all()
    serializer_class = JobSerializer
    filterset_class = JobFilterSet
    ordering_fields = ["id", "submitted_at", "decided_at", "state"]
    object_action_map = {"approve": "approve", "deny": "approve", "cancel": "change", "resubmit": "change"}

    def optimize_queryset(self, qs):
        inputs = JobInput.objects.select_related("asset").only("id", "job_id", "asset_id", "dataset_version_id", "role",
                                                                "asset__name", "asset__namespace", "asset__kind")
        # The decision's facts snapshot (tens of kB) is shown on its own page, never in a job's row.
        return qs.select_related("project", "requested_by", "approved_by", "target_cluster", "cluster", "last_decision") \
                 .defer("last_decision__facts").prefetch_related(Prefetch("job_inputs", queryset=inputs.order_by("id")))

    @extend_schema(request=JobCreateSerializer, responses={202: JobSerializer, 200: JobSerializer},
                   parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="Retries with the same key and body return the same job.")])
    def create(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > IDEMPOTENCY_KEY_MAX:
            return error_response(400, "invalid", f"Idempotency-Key: at most {IDEMPOTENCY_KEY_MAX} characters.",
                                  {"Idempotency-Key": [f"At most {IDEMPOTENCY_KEY_MAX} characters."]})
        digest = services.request_digest(request.data)
        try:
            existing = services.replay_idempotent(request.user, key, digest)
            if existing is not None:
                return self._respond(existing, status.HTTP_200_OK)
            serializer = JobCreateSerializer(data=request.data, context=self.get_serializer_context())
            serializer.is_valid(raise_exception=True)
            self.check_create_permission(serializer.validated_data)
            job, created = services.submit_job(request.user, dict(serializer.validated_data), idempotency_key=key, digest=digest)
        except services.IdempotencyConflict as exc:
            return error_response(422, "idempotency_key_reused", str(exc), {"Idempotency-Key": [str(exc)]})
        return self._respond(job, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    def _respond(self, job: Job, code: int, detail: bool = False) -> Response:
        job = self.get_queryset().get(pk=job.pk)
        data = JobSerializer(job, context={**self.get_serializer_context(), "detail": detail}).data
        return Response(data, status=code, headers={"ETag": etag_for(job), "Location": f"/api/v1/jobs/{job.pk}"})

    @extend_schema(parameters=[
        OpenApiParameter("wait", OpenApiTypes.FLOAT, description="Long-poll: wait up to this many seconds (≤ 60) for the state to change."),
        OpenApiParameter("state", OpenApiTypes.STR, description="With wait: the state you last saw (default: the current one)."),
    ])
    def retrieve(self, request, *args, **kwargs):
        job = self.get_object()
        wait = request.query_params.get("wait")
        if wait is not None:
            try:
                seconds = float(wait)
            except ValueError:
                raise exceptions.ValidationError({"wait": ["A number of seconds (at most 60)."]}) from None
            if seconds < 0:
                raise exceptions.ValidationError({"wait": ["A number of seconds (at most 60)."]})
            # ATOMIC_REQUESTS is off: each re-check below is its own autocommit query, no transaction is held.
            seen = request.query_params.get("state") or job.state
            notify.wait_for_change(job.pk, seen, min(seconds, MAX_WAIT),
                                   lambda: Job.objects.filter(pk=job.pk).values_list("state", flat=True).first())
        job = self.get_queryset().get(pk=job.pk)
        etag = etag_for(job)
        if request.headers.get("If-None-Match") == etag and wait is None:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        data = JobSerializer(job, context={**self.get_serializer_context(), "detail": True}).data
        return Response(data, headers={"ETag": etag})

    def _note(self, request) -> str:
        serializer = JobNoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["note"]

    @extend_schema(request=JobNoteSerializer, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve a job awaiting approval (not its requester, nor the owner of the requesting service account)."""
        job = self.get_object()
        return self._respond(services.approve_job(job, request.user, self._note(request)), 200, detail=True)

    @extend_schema(request=JobNoteSerializer, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def deny(self, request, pk=None):
        job = self.get_object()
        return self._respond(services.deny_job(job, request.user, self._note(request)), 200, detail=True)

    @extend_schema(request=JobNoteSerializer, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        return self._respond(services.cancel_job(job, self._note(request)), 200, detail=True)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        """Ask for a new decision on a denied job (after a policy, waiver or catalog change)."""
        job = self.get_object()
        return self._respond(services.resubmit_job(job), status.HTTP_202_ACCEPTED)
