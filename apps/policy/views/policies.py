"""Policy pages: the list, a new policy, a policy with its version history (and diffs)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import DetailView, View

from apps.core.mixins import RestrictedViewMixin
from apps.web.views.base import FilteredListView, FormPageMixin, SectionMixin, select_widget

from .. import services
from ..filters import PolicyFilterSet
from ..forms import PolicyCreateForm
from ..models import Policy, PolicyVersion, Template
from ..rules import TEMPLATES
from ..services import content


class PolicyListView(FilteredListView):
    model = Policy
    filterset_class = PolicyFilterSet
    template_name = "policy/list.html"
    partial_template_name = "policy/_results.html"
    section = "policies"
    filter_fields = ("template", "state")
    filter_labels = {"template": "Template", "state": "Has a version that is"}

    def optimize(self, qs):
        versions = PolicyVersion.objects.only("id", "policy_id", "number", "state", "action", "shadow").order_by("-number")
        return qs.select_related("owner").prefetch_related(Prefetch("versions", queryset=versions))

    def customize_filter_form(self, form) -> None:
        select_widget(form, "template", list(Template.choices))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title="Policies", list_url=reverse("policy-list"), can_add=self.can("add"))
        return ctx


class PolicyCreateView(FormPageMixin, View):
    model = Policy
    section = "policies"
    page_title = "New policy"
    submit_label = "Create draft"

    def load(self) -> None:
        self.require("add")

    def build_form(self, data: Any = None) -> PolicyCreateForm:
        return PolicyCreateForm(data)

    def form_context(self, form) -> dict[str, Any]:
        return {"cancel_url": reverse("policy-list")}

    def save(self, form: PolicyCreateForm) -> PolicyVersion:
        return services.create_policy(self.request.user, form.cleaned_data)

    def success(self, version: PolicyVersion) -> HttpResponse:
        messages.success(self.request, f"Policy {version.policy.slug} created with draft version 1. Set its parameters next.")
        return redirect("policy-version-edit", pk=version.pk)


class PolicyDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = Policy.objects.select_related("owner")
    template_name = "policy/detail.html"
    context_object_name = "policy"
    section = "policies"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        versions = list(self.object.versions.select_related("authored_by", "approved_by").order_by("-number"))
        history = []
        for i, version in enumerate(versions):
            previous = versions[i + 1] if i + 1 < len(versions) else None
            history.append({"version": version, "diff": content.diff(previous, version)})
        ctx.update(history=history, template_info=TEMPLATES[self.object.template],
                   can_draft=_can(self.request.user, "policy.add_policyversion"))
        return ctx


class NewDraftView(SectionMixin, RestrictedViewMixin, View):
    model = Policy

    def post(self, request, pk: int) -> HttpResponse:
        policy = self.get_queryset().get(pk=pk)
        if not _can(request.user, "policy.add_policyversion"):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("Your role does not allow drafting policy versions.")
        source = policy.versions.filter(pk=request.POST.get("source")).first()
        version = services.new_draft(policy, request.user, source=source)
        messages.success(request, f"Draft version {version.number} created from version {source.number if source else '—'}.")
        return redirect("policy-version-edit", pk=version.pk)


def _can(user: Any, perm: str) -> bool:
    from apps.core.permissions import has_perm

    return has_perm(user, perm, None)
