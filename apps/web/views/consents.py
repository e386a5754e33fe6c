"""Consent and legal-basis records (GDPR Art. 6, 7): list, detail, create, edit, withdraw."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import DetailView, View
from django.views.generic.detail import SingleObjectMixin

from apps.accounts.models import Project
from apps.catalog import services
from apps.catalog.filters import ConsentFilterSet
from apps.catalog.models import Asset, ConsentRecord, ConsentStatus, Purpose
from apps.core.mixins import RestrictedViewMixin
from apps.core.permissions import projects_with_perm

from ..forms import ConsentForm, WithdrawForm
from .base import FilteredListView, FormPageMixin, SectionMixin, select_widget, visible_audit_events

ADD_CONSENT = "catalog.add_consentrecord"


class ConsentListView(FilteredListView):
    model = ConsentRecord
    filterset_class = ConsentFilterSet
    template_name = "web/consents/list.html"
    partial_template_name = "web/consents/_results.html"
    section = "consents"
    filter_fields = ("legal_basis", "status", "purpose", "project", "expiring_within_days")
    filter_labels = {"legal_basis": "Legal basis", "status": "Stored status", "purpose": "Purpose", "project": "Project",
                     "expiring_within_days": "Expiring within (days)"}

    def optimize(self, qs):
        return qs.select_related("project")

    def customize_filter_form(self, form: forms.Form) -> None:
        projects = Project.objects.restrict(self.request.user).values_list("slug", "name")
        select_widget(form, "project", [(slug, f"{slug} — {name}") for slug, name in projects])
        select_widget(form, "status", [c for c in form.fields["status"].choices if c[0]])
        select_widget(form, "purpose", list(Purpose.objects.values_list("code", "code")))
        form.fields["legal_basis"].widget = forms.CheckboxSelectMultiple(choices=form.fields["legal_basis"].choices)
        form.fields["expiring_within_days"].widget = forms.NumberInput(attrs={"min": 0, "max": 3650})

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title="Consents and legal bases", list_url=reverse("consent-list"),
                   can_add=bool(projects_with_perm(self.request.user, ADD_CONSENT)))
        return ctx


class ConsentDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = ConsentRecord.objects.select_related("project")
    template_name = "web/consents/detail.html"
    context_object_name = "consent"
    section = "consents"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        consent: ConsentRecord = self.object
        user = self.request.user
        ctx = super().get_context_data(**kwargs)
        withdrawn = consent.status == ConsentStatus.WITHDRAWN
        ctx.update(
            can_change=not withdrawn and self.can("change", consent),
            can_withdraw=not withdrawn and self.can("withdraw", consent),
            assets=Asset.objects.restrict(user).filter(consent=consent).with_related(),
            events=visible_audit_events(user).for_object(consent)[:10],
        )
        return ctx


class ConsentCreateView(FormPageMixin, View):
    model = ConsentRecord
    section = "consents"
    page_title = "New consent or legal basis record"
    submit_label = "Create"

    def load(self) -> None:
        if not projects_with_perm(self.request.user, ADD_CONSENT):
            raise PermissionDenied("Your role does not allow recording consents in any project.")

    def build_form(self, data: Any = None) -> ConsentForm:
        return ConsentForm(data, user=self.request.user)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("consent-list")}

    def save(self, form: ConsentForm) -> ConsentRecord:
        fields = form.service_fields()
        self.require("add", fields["project"])
        return services.create_consent(fields)

    def success(self, consent: ConsentRecord) -> HttpResponse:
        messages.success(self.request, f"Consent record “{consent.reference}” created.")
        return redirect("consent-detail", pk=consent.pk)


class ConsentEditView(FormPageMixin, SingleObjectMixin, View):
    queryset = ConsentRecord.objects.select_related("project")
    permission_action = "change"
    section = "consents"
    submit_label = "Save changes"

    def load(self) -> None:
        self.object = self.get_object()
        self.page_title = f"Edit consent {self.object.reference}"

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        if self.object.status == ConsentStatus.WITHDRAWN:
            messages.error(request, "A withdrawn consent cannot be edited; record a new one.")
            return redirect("consent-detail", pk=self.object.pk)
        return self.render_form(self.build_form())

    def build_form(self, data: Any = None) -> ConsentForm:
        return ConsentForm(data, user=self.request.user, instance=self.object)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("consent-detail", args=[self.object.pk])}

    def save(self, form: ConsentForm) -> ConsentRecord:
        return services.update_consent(self.object, form.service_fields(), if_match=form.if_match(self.object))

    def success(self, consent: ConsentRecord) -> HttpResponse:
        messages.success(self.request, f"Changes to consent “{consent.reference}” saved.")
        return redirect("consent-detail", pk=consent.pk)


class ConsentWithdrawView(FormPageMixin, SingleObjectMixin, View):
    """GDPR Art. 7(3): withdrawal is a recorded act with a reason, not an edit."""

    queryset = ConsentRecord.objects.select_related("project")
    permission_action = "withdraw"
    section = "consents"
    template_name = "web/consents/withdraw.html"
    submit_label = "Withdraw consent"

    def load(self) -> None:
        self.object = self.get_object()
        self.page_title = f"Withdraw consent {self.object.reference}"

    def build_form(self, data: Any = None) -> WithdrawForm:
        return WithdrawForm(data, initial={"version": self.object.version})

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("consent-detail", args=[self.object.pk]), "consent": self.object,
                "affected": Asset.objects.restrict(self.request.user).filter(consent=self.object).count()}

    def save(self, form: WithdrawForm) -> ConsentRecord:
        return services.withdraw_consent(self.object, reason=form.cleaned_data["reason"], if_match=form.if_match(self.object))

    def success(self, consent: ConsentRecord) -> HttpResponse:
        messages.success(self.request, f"Consent “{consent.reference}” withdrawn. Assets that rely on it are now flagged.")
        return redirect("consent-detail", pk=consent.pk)
