"""A policy version's page: its content, the editor (drafts), the lifecycle buttons, the test runner,
dry-run results on live jobs and what-if reports."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.generic import DetailView, View
from django.views.generic.detail import SingleObjectMixin

from apps.core.mixins import RestrictedViewMixin
from apps.core.permissions import has_perm
from apps.core.services import PreconditionFailed
from apps.web.forms import apply_service_errors
from apps.web.views.base import CHANGED_BY_SOMEONE_ELSE, FormPageMixin, SectionMixin

from .. import services
from ..forms import NoteForm, VersionForm, WhatIfForm
from ..models import Decision, PolicyVersion, WhatIfReport
from ..rules import TEMPLATES
from ..services import content, testing, whatif


def _perm(user: Any, perm: str) -> bool:
    return has_perm(user, perm, None)


class VersionDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = PolicyVersion.objects.select_related("policy", "authored_by", "approved_by")
    template_name = "policy/version.html"
    context_object_name = "version"
    section = "policies"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        v = self.object
        user = self.request.user
        previous = v.policy.versions.filter(number__lt=v.number).order_by("-number").first()
        shadow = (Decision.objects.restrict(user, "view").filter(shadow__contains=[{"version_id": v.pk}])
                  .select_related("job").order_by("-id")[:25]) if v.state in ("review", "retired") else []
        can_change = _perm(user, "policy.change_policyversion")
        ctx.update(
            template_info=TEMPLATES[v.policy.template], previous=previous, diff=content.diff(previous, v),
            test_runs=v.test_runs.all()[:5], reports=v.whatif_reports.all()[:10],
            shadow_decisions=[(d, next((s for s in d.shadow if s.get("version_id") == v.pk), {})) for d in shadow],
            can_change=can_change, can_approve=_perm(user, "policy.approve_policyversion") and user.pk != v.authored_by_id,
            is_author=user.pk == v.authored_by_id, whatif_form=WhatIfForm(), note_form=NoteForm(),
            params=[(p.label, (v.params or {}).get(p.name, p.default)) for p in TEMPLATES[v.policy.template].params],
        )
        return ctx


class VersionEditView(FormPageMixin, SingleObjectMixin, View):
    queryset = PolicyVersion.objects.select_related("policy")
    template_name = "policy/version_form.html"
    permission_action = "change"
    section = "policies"
    submit_label = "Save draft"

    def load(self) -> None:
        self.object = self.get_object()
        if self.object.state != "draft":
            raise PermissionDenied("Published versions never change; start a new draft from this version instead.")
        self.page_title = f"Edit {self.object.policy.slug} v{self.object.number} (draft)"

    def build_form(self, data: Any = None) -> VersionForm:
        return VersionForm(data, version=PolicyVersion.objects.select_related("policy").get(pk=self.object.pk))

    def form_context(self, form) -> dict[str, Any]:
        return {"cancel_url": reverse("policy-version", args=[self.object.pk]), "version": self.object,
                "template_info": TEMPLATES[self.object.policy.template]}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        form = self.build_form(request.POST)
        if form.is_valid():
            if_match = f'"{self.object.pk}-{form.cleaned_data["version"]}"' if form.cleaned_data.get("version") else None
            try:
                services.update_draft(self.object, form.content(), if_match=if_match)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    exc = ValidationError({form.field_for(k): v for k, v in exc.message_dict.items()})
                apply_service_errors(form, exc)
            except PreconditionFailed:
                form.add_error(None, CHANGED_BY_SOMEONE_ELSE)
            else:
                messages.success(request, "Draft saved.")
                return redirect("policy-version", pk=self.object.pk)
        return self.render_form(form)


ACTIONS = {
    "submit": "policy.change_policyversion", "test": "policy.change_policyversion", "dry_run_on": "policy.change_policyversion",
    "dry_run_off": "policy.change_policyversion", "activate": "policy.approve_policyversion",
    "retire": "policy.change_policyversion", "whatif": "policy.change_policyversion", "delete": "policy.change_policyversion",
}


class VersionActionView(SectionMixin, RestrictedViewMixin, View):
    """The lifecycle buttons (POST): each calls one service; errors come back as messages."""

    model = PolicyVersion

    def post(self, request: HttpRequest, pk: int, op: str) -> HttpResponse:
        version = get_object_or_404(self.get_queryset().select_related("policy"), pk=pk)
        if op not in ACTIONS:
            return redirect("policy-version", pk=pk)
        if not _perm(request.user, ACTIONS[op]):
            raise PermissionDenied("Your role does not allow this.")
        note = request.POST.get("note", "")
        try:
            if op == "submit":
                services.submit_for_review(version, request.user)
                messages.success(request, "Submitted for review; the content is now frozen.")
            elif op == "test":
                run = testing.run_tests(version)
                (messages.success if run.passed else messages.error)(
                    request, f"Tests {'passed' if run.passed else 'failed'}: {sum(r['passed'] for r in run.results)} of {len(run.results)}.")
            elif op in ("dry_run_on", "dry_run_off"):
                services.set_dry_run(version, op == "dry_run_on")
                messages.success(request, "Dry run on live jobs " + ("started." if op == "dry_run_on" else "stopped."))
            elif op == "activate":
                services.activate(version, request.user, note=note)
                messages.success(request, f"Version {version.number} is active; queued and running jobs are being re-evaluated.")
            elif op == "retire":
                services.retire(version, request.user, note=note)
                messages.success(request, f"Version {version.number} retired.")
            elif op == "whatif":
                form = WhatIfForm(request.POST)
                if not form.is_valid():
                    raise ValidationError({"days": form.errors.get("days", ["Between 1 and 365."])})
                report = whatif.queue_whatif(version, form.cleaned_data["days"])
                messages.info(request, f"What-if report #{report.pk} is being prepared; it appears below when done.")
            elif op == "delete":
                policy_pk = version.policy_id
                services.delete_draft(version)
                messages.success(request, "Draft deleted.")
                return redirect("policy-detail", pk=policy_pk)
        except ValidationError as exc:
            for text in (exc.messages if hasattr(exc, "messages") else [str(exc)]):
                messages.error(request, text)
        return redirect("policy-version", pk=pk)


class WhatIfReportView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = WhatIfReport.objects.select_related("policy_version__policy")
    template_name = "policy/whatif.html"
    context_object_name = "report"
    section = "policies"

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        return render(self.request, self.template_name, context)
