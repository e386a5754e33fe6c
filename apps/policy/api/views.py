"""Policy API: policies and versions (lifecycle, tests, what-if, diffs), waivers, model evaluations,
budgets, decisions, and the gateway check ``/decide``."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.models import Asset
from apps.core.api.viewsets import RestrictedModelViewSet, RestrictedViewSetMixin

from .. import services
from ..filters import DecisionFilterSet, PolicyFilterSet, VersionFilterSet, WaiverFilterSet
from ..models import Budget, Decision, ModelEvaluation, Policy, PolicyVersion, Waiver
from ..services import content, reference, testing, whatif
from . import serializers as s


class PolicyViewSet(RestrictedModelViewSet):
    """Policies: one rule each (a built-in template or a Rego module); behaviour lives in versions."""

    queryset = Policy.objects.all()
    serializer_class = s.PolicySerializer
    filterset_class = PolicyFilterSet
    create_project_field = None
    http_method_names = ["get", "post", "patch", "head", "options"]

    def optimize_queryset(self, qs):
        return qs.select_related("owner").prefetch_related(Prefetch("versions", queryset=PolicyVersion.objects.only("id", "policy_id", "number", "state")))

    @extend_schema(request=s.PolicyCreateSerializer, responses={201: s.PolicyVersionSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.PolicyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_create_permission(serializer.validated_data)
        data = dict(serializer.validated_data)
        fields = {k: data.pop(k) for k in ("slug", "name", "description", "template")}
        version = services.create_policy(request.user, fields, data)
        return Response(s.PolicyVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    def service_update(self, obj, data, if_match):
        return services.update_policy(obj, data, if_match=if_match)


class PolicyVersionViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                           viewsets.GenericViewSet):
    """Versions: edit a draft; submit, test, dry-run, what-if, activate (approver ≠ author), retire."""

    queryset = PolicyVersion.objects.all()
    serializer_class = s.PolicyVersionSerializer
    filterset_class = VersionFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]
    object_action_map = {"activate": "approve", "submit": "change", "retire": "change", "run_tests": "change",
                         "dry_run": "change", "whatif": "change", "new_draft": "add", "partial_update": "change"}

    def optimize_queryset(self, qs):
        return qs.select_related("policy", "authored_by", "approved_by")

    def perform_update(self, serializer):
        services.update_draft(serializer.instance, dict(serializer.validated_data), if_match=self.request.headers.get("If-Match"))

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        super().update(request, *args, **kwargs)
        return Response(self.get_serializer(self.get_queryset().get(pk=kwargs["pk"])).data)

    def _done(self, version: PolicyVersion, code: int = 200) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=version.pk)).data, status=code)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Draft → review: the content freezes."""
        return self._done(services.submit_for_review(self.get_object(), request.user))

    @extend_schema(request=s.PolicyNoteSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        """Review → active. The tests run first and must pass; the approver may not be the author."""
        note = s.PolicyNoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        return self._done(services.activate(self.get_object(), request.user, note=note.validated_data["note"]))

    @extend_schema(request=s.PolicyNoteSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        note = s.PolicyNoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        return self._done(services.retire(self.get_object(), request.user, note=note.validated_data["note"]))

    @extend_schema(request=None, responses={201: s.PolicyVersionSerializer})
    @action(detail=True, methods=["post"], url_path="new-draft")
    def new_draft(self, request, pk=None):
        version = self.get_object()
        return self._done(services.new_draft(version.policy, request.user, source=version), status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.TestRunSerializer)
    @action(detail=True, methods=["post"], url_path="run-tests")
    def run_tests(self, request, pk=None):
        return Response(s.TestRunSerializer(testing.run_tests(self.get_object())).data)

    @extend_schema(request=s.DryRunSerializer)
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request, pk=None):
        body = s.DryRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._done(services.set_dry_run(self.get_object(), body.validated_data["enabled"]))

    @extend_schema(request=s.WhatIfRequestSerializer, responses={202: s.WhatIfSerializer})
    @action(detail=True, methods=["post", "get"])
    def whatif(self, request, pk=None):
        """POST queues a replay of this version over the last N days of decisions; GET lists the reports."""
        version = self.get_object()
        if request.method == "GET":
            return Response(s.WhatIfSerializer(version.whatif_reports.all()[:20], many=True).data)
        body = s.WhatIfRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(s.WhatIfSerializer(whatif.queue_whatif(version, body.validated_data["days"])).data, status=202)

    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """A unified diff against another version (``?against=<number>``, default: the previous one)."""
        version = self.get_object()
        against = request.query_params.get("against")
        qs = version.policy.versions.all()
        if against is not None and not against.isdigit():
            raise exceptions.ValidationError({"against": ["A version number."]})
        other = qs.filter(number=int(against)).first() if against else qs.filter(number__lt=version.number).order_by("-number").first()
        return Response({"from": other.number if other else None, "to": version.number, "diff": content.diff(other, version)})


class WaiverViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Waivers: an exception to one policy for a scope, with a justification, a ticket and an expiry."""

    queryset = Waiver.objects.all()
    serializer_class = s.WaiverSerializer
    filterset_class = WaiverFilterSet
    object_action_map = {"approve": "approve", "reject": "approve", "revoke": "approve"}

    def optimize_queryset(self, qs):
        return qs.select_related("policy", "project", "requested_by", "approved_by")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_create_permission(serializer.validated_data)
        waiver = services.request_waiver(request.user, dict(serializer.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=waiver.pk)).data, status=status.HTTP_201_CREATED)

    def _act(self, request, call) -> Response:
        note = s.PolicyNoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        waiver = call(self.get_object(), note.validated_data["note"])
        return Response(self.get_serializer(self.get_queryset().get(pk=waiver.pk)).data)

    @extend_schema(request=s.PolicyNoteSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._act(request, lambda w, n: services.approve_waiver(w, request.user, note=n))

    @extend_schema(request=s.PolicyNoteSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._act(request, lambda w, n: services.reject_waiver(w, request.user, note=n))

    @extend_schema(request=s.PolicyNoteSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return self._act(request, lambda w, n: services.revoke_waiver(w, note=n))


class EvaluationViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Model evaluations per language and jurisdiction; an approved one opens the evaluation gate."""

    queryset = ModelEvaluation.objects.all()
    serializer_class = s.EvaluationSerializer
    create_project_field = "model.project"
    object_action_map = {"approve": "approve", "reject": "approve"}

    def optimize_queryset(self, qs):
        return qs.select_related("model", "evaluator", "approved_by")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_create_permission(serializer.validated_data)
        evaluation = reference.record_evaluation(request.user, dict(serializer.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=evaluation.pk)).data, status=status.HTTP_201_CREATED)

    def _decide(self, request, approve: bool) -> Response:
        note = s.PolicyNoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        evaluation = reference.decide_evaluation(self.get_object(), request.user, approve=approve, note=note.validated_data["note"])
        return Response(self.get_serializer(self.get_queryset().get(pk=evaluation.pk)).data)

    @extend_schema(request=s.PolicyNoteSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, True)

    @extend_schema(request=s.PolicyNoteSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, False)


class BudgetViewSet(RestrictedModelViewSet):
    """Project budgets (money) for GPU time; ``remaining`` subtracts committed jobs' estimated cost."""

    queryset = Budget.objects.all()
    serializer_class = s.BudgetSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def optimize_queryset(self, qs):
        return qs.select_related("project")

    def service_create(self, data):
        return reference.set_budget(data["project"], data["amount"], data.get("currency", "EUR"))

    def service_update(self, obj, data, if_match):
        return reference.set_budget(obj.project, data.get("amount", obj.amount), data.get("currency", obj.currency), if_match=if_match)


class DecisionViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Every decision with its violations, the policy versions it was made under and the facts it saw."""

    queryset = Decision.objects.all()
    serializer_class = s.DecisionSerializer
    filterset_class = DecisionFilterSet

    def get_serializer_class(self):
        return s.DecisionDetailSerializer if self.action == "retrieve" else s.DecisionSerializer

    def optimize_queryset(self, qs):
        return qs.defer("facts") if self.action == "list" else qs


class DecideView(APIView):
    """May model M serve purpose P in jurisdiction J? Answered from cached effective constraints by
    the serving-relevant rules in force (residency, purpose, consent, evaluation gate, Rego rules
    scoped to inference). GET with query parameters or POST with a JSON body. A read-scoped token
    may ask (the check writes nothing); the model must be visible to the caller."""

    skip_role_permission = True  # authenticated and active is checked; there is no write to scope

    def _answer(self, data: Any) -> Response:
        body = s.DecideSerializer(data=data)
        body.is_valid(raise_exception=True)
        model_id = body.validated_data["model"]
        visible = Asset.objects.restrict(self.request.user, "view").filter(pk=model_id, kind__in=["model", "fine_tune"]).exists()
        if not visible:
            raise exceptions.NotFound(f"No model {model_id} that you may see.")
        answer = services.decide_serving(model_id, body.validated_data["purpose"], body.validated_data["jurisdiction"])
        return Response(answer)

    @extend_schema(parameters=[s.DecideSerializer], responses=s.DecideResponseSerializer)
    def get(self, request):
        return self._answer(request.query_params)

    @extend_schema(request=s.DecideSerializer, responses=s.DecideResponseSerializer)
    def post(self, request):
        return self._answer(request.data)
