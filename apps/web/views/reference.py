"""Global reference data: namespace rules, jurisdictions and the purpose taxonomy.

Every signed-in user reads it; only org-wide administrators and compliance officers change it
(``catalog.add_namespacerule`` etc. held without a project, which ``can()``/``require()`` check).
Writes go through the catalog services (or the generic audited ``apps.core.services``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.db.models.functions import Length
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.generic import DetailView, TemplateView, View
from django.views.generic.detail import SingleObjectMixin

from apps.catalog import services
from apps.catalog.filters import JurisdictionFilterSet, NamespaceRuleFilterSet, PurposeFilterSet
from apps.catalog.models import Asset, AssetKind, Jurisdiction, JurisdictionKind, NamespaceRule, Purpose
from apps.catalog.models.jurisdictions import resolve_namespace
from apps.compute.models import ComputeCluster
from apps.core import services as core
from apps.core.mixins import RestrictedViewMixin

from ..forms import EtagForm, JurisdictionForm, LocationTestForm, NamespaceRuleForm, PurposeForm
from .base import FilteredListView, FormPageMixin, SectionMixin, is_partial, run_service, select_widget, visible_audit_events

SECTION = "reference"
REINFER_NOTE = ("Saving a rule re-infers, in the background, the residency of assets whose residency is unknown or "
                "came from a rule. Residency declared on an asset is never changed.")


class ReferenceIndexView(SectionMixin, RestrictedViewMixin, TemplateView):
    """/reference/: what there is, with counts."""

    model = NamespaceRule
    template_name = "web/reference/index.html"
    section = SECTION

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        ctx = super().get_context_data(**kwargs)
        kinds = Jurisdiction.objects.restrict(user).aggregate(
            countries=Count("code", filter=Q(kind=JurisdictionKind.COUNTRY)), blocs=Count("code", filter=Q(kind=JurisdictionKind.BLOC)))
        ctx.update(
            page_title="Reference data",
            rule_count=self.get_queryset().count(),
            jurisdiction_counts=kinds,
            purpose_count=Purpose.objects.restrict(user).count(),
            can_change=self.can("change"),
        )
        return ctx


# --- namespace rules --------------------------------------------------------------------------

def rules_in_precedence_order(qs):
    """The order ``resolve_namespace`` tries them: highest priority, then longest pattern."""
    return qs.select_related("jurisdiction").order_by("-priority", Length("pattern").desc(), "pattern")


class NamespaceRuleListView(FilteredListView):
    model = NamespaceRule
    filterset_class = NamespaceRuleFilterSet
    template_name = "web/reference/namespace_rules/list.html"
    partial_template_name = "web/reference/namespace_rules/_results.html"
    section = SECTION
    filter_fields = ("jurisdiction",)
    filter_labels = {"jurisdiction": "Storage jurisdiction"}

    def optimize(self, qs):
        return rules_in_precedence_order(qs)

    def customize_filter_form(self, form: forms.Form) -> None:
        codes = NamespaceRule.objects.order_by().values_list("jurisdiction_id", flat=True).distinct()
        select_widget(form, "jurisdiction", [(c, c) for c in sorted(codes)])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title="Namespace rules", list_url=reverse("namespace-rule-list"), can_add=self.can("add"),
                   can_change=self.can("change"), can_delete=self.can("delete"), tester_form=LocationTestForm(),
                   reinfer_note=REINFER_NOTE)
        return ctx


class NamespaceRuleResolveView(SectionMixin, RestrictedViewMixin, View):
    """"Test a location": which rule decides residency for a namespace (and name), if any. With
    htmx only the result is rendered into the rules page; without JavaScript a page of its own."""

    model = NamespaceRule
    section = SECTION

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = LocationTestForm(request.GET or None)
        ctx: dict[str, Any] = {"tester_form": form, "section": self.section, "page_title": "Test a location",
                               "can_change": self.can("change")}
        if form.is_valid():
            rule = resolve_namespace(form.cleaned_data["namespace"], form.cleaned_data["name"])
            ctx.update(tested=True, rule=rule,
                       processing=(list(rule.processing_jurisdictions) or [rule.jurisdiction_id]) if rule else [])
        template = ("web/reference/namespace_rules/_location_result.html" if is_partial(request)
                    else "web/reference/namespace_rules/resolve.html")
        response = render(request, template, ctx)
        patch_vary_headers(response, ["HX-Request"])
        return response


class NamespaceRuleCreateView(FormPageMixin, View):
    model = NamespaceRule
    section = SECTION
    page_title = "New namespace rule"
    submit_label = "Create rule"

    def load(self) -> None:
        if not self.can("add"):
            raise PermissionDenied("Only organisation administrators and compliance officers add namespace rules.")

    def build_form(self, data: Any = None) -> NamespaceRuleForm:
        return NamespaceRuleForm(data)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("namespace-rule-list"), "intro": REINFER_NOTE}

    def save(self, form: NamespaceRuleForm) -> NamespaceRule:
        return services.create_namespace_rule(form.service_fields())

    def success(self, rule: NamespaceRule) -> HttpResponse:
        messages.success(self.request, f"Rule “{rule}” created. Matching assets with unknown or rule-derived residency "
                                       "are being re-inferred in the background.")
        return redirect("namespace-rule-list")


class NamespaceRuleEditView(FormPageMixin, SingleObjectMixin, View):
    queryset = NamespaceRule.objects.select_related("jurisdiction")
    permission_action = "change"
    section = SECTION
    submit_label = "Save changes"

    def load(self) -> None:
        self.object = self.get_object()
        self.page_title = f"Edit namespace rule {self.object.pattern}"

    def build_form(self, data: Any = None) -> NamespaceRuleForm:
        return NamespaceRuleForm(data, instance=self.object)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("namespace-rule-list"), "intro": REINFER_NOTE}

    def save(self, form: NamespaceRuleForm) -> NamespaceRule:
        return services.update_namespace_rule(self.object, form.service_fields(), if_match=form.if_match())

    def success(self, rule: NamespaceRule) -> HttpResponse:
        messages.success(self.request, f"Changes to rule “{rule}” saved. Matching assets with unknown or rule-derived "
                                       "residency are being re-inferred in the background.")
        return redirect("namespace-rule-list")


class NamespaceRuleDeleteView(SectionMixin, RestrictedViewMixin, SingleObjectMixin, View):
    queryset = NamespaceRule.objects.select_related("jurisdiction")
    permission_action = "delete"
    section = SECTION

    def render_confirm(self, form: EtagForm) -> HttpResponse:
        return render(self.request, "web/reference/namespace_rules/confirm_delete.html",
                      {"rule": self.object, "form": form, "section": self.section})

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        return self.render_confirm(EtagForm(initial={"etag": core.etag_for(self.object)}))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = rule = self.get_object()
        form = EtagForm(request.POST)
        # core.delete returns None; "or True" tells run_service's caller it succeeded.
        if form.is_valid() and run_service(form, lambda: core.delete(rule, if_match=form.if_match()) or True):
            messages.success(request, f"Rule “{rule}” deleted.")
            return redirect("namespace-rule-list")
        return self.render_confirm(form)


# --- jurisdictions ----------------------------------------------------------------------------

class JurisdictionListView(FilteredListView):
    model = Jurisdiction
    filterset_class = JurisdictionFilterSet
    template_name = "web/reference/jurisdictions/list.html"
    partial_template_name = "web/reference/jurisdictions/_results.html"
    section = SECTION
    filter_fields = ("kind",)
    filter_labels = {"kind": "Kind"}
    page_size = 50

    def optimize(self, qs):
        codes = Jurisdiction.objects.only("code").order_by("code")
        return qs.prefetch_related(Prefetch("members", queryset=codes), Prefetch("blocs", queryset=codes)).order_by("code")

    def customize_filter_form(self, form: forms.Form) -> None:
        select_widget(form, "kind", [(value, label.split(" (")[0]) for value, label in JurisdictionKind.choices])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title="Jurisdictions", list_url=reverse("jurisdiction-list"), can_add=self.can("add"))
        return ctx


class JurisdictionObjectMixin:
    """Jurisdictions are addressed by code (their primary key); any case is accepted."""

    pk_url_kwarg = "code"

    def get_object(self, queryset=None):
        self.kwargs["code"] = self.kwargs["code"].upper()  # type: ignore[attr-defined]
        return super().get_object(queryset)  # type: ignore[misc]


class JurisdictionDetailView(JurisdictionObjectMixin, SectionMixin, RestrictedViewMixin, DetailView):
    model = Jurisdiction
    template_name = "web/reference/jurisdictions/detail.html"
    context_object_name = "jurisdiction"
    section = SECTION

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        jur: Jurisdiction = self.object
        user = self.request.user
        ctx = super().get_context_data(**kwargs)
        members = list(jur.members.order_by("code"))
        member_codes = [m.code for m in members]
        assets = Asset.objects.restrict(user)
        by_kind = {"datasets": Count("id", filter=Q(kind=AssetKind.DATASET)),
                   "models": Count("id", filter=Q(kind__in=[AssetKind.MODEL, AssetKind.FINE_TUNE])), "total": Count("id")}
        ctx.update(
            page_title=str(jur),
            is_bloc=jur.kind == JurisdictionKind.BLOC,
            members=members,
            blocs=jur.blocs.order_by("code"),
            asset_counts=assets.filter(storage_jurisdiction=jur).aggregate(**by_kind),
            member_asset_counts=assets.filter(storage_jurisdiction_id__in=member_codes).aggregate(**by_kind) if member_codes else None,
            clusters=ComputeCluster.objects.restrict(user).filter(jurisdiction_id__in=[jur.code, *member_codes])
            .select_related("jurisdiction").order_by("jurisdiction_id", "name"),
            rules=rules_in_precedence_order(NamespaceRule.objects.restrict(user).filter(jurisdiction=jur)),
            events=visible_audit_events(user).for_object(jur)[:10],
            can_change=self.can("change", jur),
        )
        return ctx


class JurisdictionCreateView(FormPageMixin, View):
    model = Jurisdiction
    section = SECTION
    page_title = "New jurisdiction"
    submit_label = "Create jurisdiction"

    def load(self) -> None:
        if not self.can("add"):
            raise PermissionDenied("Only organisation administrators and compliance officers add jurisdictions.")

    def build_form(self, data: Any = None) -> JurisdictionForm:
        initial = {"kind": JurisdictionKind.BLOC} if self.request.GET.get("kind") == JurisdictionKind.BLOC else None
        return JurisdictionForm(data, initial=initial)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("jurisdiction-list")}

    def save(self, form: JurisdictionForm) -> Jurisdiction:
        return services.create_jurisdiction(form.service_fields(), form.cleaned_data["members"])

    def success(self, jur: Jurisdiction) -> HttpResponse:
        messages.success(self.request, f"Jurisdiction “{jur}” created.")
        return redirect("jurisdiction-detail", code=jur.code)


class JurisdictionEditView(JurisdictionObjectMixin, FormPageMixin, SingleObjectMixin, View):
    model = Jurisdiction
    permission_action = "change"
    section = SECTION
    submit_label = "Save changes"

    def load(self) -> None:
        self.object = self.get_object()
        self.page_title = f"Edit {self.object}"

    def build_form(self, data: Any = None) -> JurisdictionForm:
        return JurisdictionForm(data, instance=self.object)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("jurisdiction-detail", args=[self.object.code])}

    def save(self, form: JurisdictionForm) -> Jurisdiction:
        return services.update_jurisdiction(self.object, form.service_fields(), form.cleaned_data["members"],
                                            if_match=form.if_match())

    def success(self, jur: Jurisdiction) -> HttpResponse:
        messages.success(self.request, f"Changes to “{jur}” saved.")
        return redirect("jurisdiction-detail", code=jur.code)


# --- purposes ---------------------------------------------------------------------------------

class PurposeListView(FilteredListView):
    """The taxonomy as a tree: a purpose covers the ones below it (``research`` covers
    ``research.medical``). Small, so one page; sorted by code segments, not by the database's
    collation (which may ignore the dots)."""

    model = Purpose
    filterset_class = PurposeFilterSet
    template_name = "web/reference/purposes/list.html"
    partial_template_name = "web/reference/purposes/_results.html"
    section = SECTION
    filter_fields = ("under",)
    filter_labels = {"under": "Within purpose"}
    page_size = 2000

    def customize_filter_form(self, form: forms.Form) -> None:
        codes = sorted(Purpose.objects.values_list("code", flat=True), key=lambda c: c.split("."))
        select_widget(form, "under", [(c, c) for c in codes], empty="All purposes")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        rows = sorted(ctx["page_obj"].object_list, key=lambda p: p.code.split("."))
        top = min((p.depth for p in rows), default=0)
        codes = {p.code for p in rows}
        tree = [{"purpose": p, "level": p.depth - top, "has_children": False} for p in rows]
        parents = {p.parent_code for p in rows if p.parent_code in codes}
        for node in tree:
            node["has_children"] = node["purpose"].code in parents
        ctx.update(page_title="Purposes", list_url=reverse("purpose-list"), tree=tree,
                   can_add=self.can("add"), can_change=self.can("change"))
        return ctx


class PurposeCreateView(FormPageMixin, View):
    model = Purpose
    section = SECTION
    submit_label = "Create purpose"

    def load(self) -> None:
        if not self.can("add"):
            raise PermissionDenied("Only organisation administrators and compliance officers add purposes.")
        self.parent = Purpose.objects.filter(code=self.request.GET.get("parent", "")).first()
        self.page_title = f"New purpose under {self.parent.code}" if self.parent else "New purpose"

    def build_form(self, data: Any = None) -> PurposeForm:
        return PurposeForm(data, initial={"code": f"{self.parent.code}."} if self.parent else None)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("purpose-list")}

    def save(self, form: PurposeForm) -> Purpose:
        return services.create_purpose(form.service_fields())

    def success(self, purpose: Purpose) -> HttpResponse:
        messages.success(self.request, f"Purpose “{purpose.code}” created.")
        return redirect(f"{reverse('purpose-list')}#purpose-{purpose.code}")


class PurposeEditView(FormPageMixin, SingleObjectMixin, View):
    model = Purpose
    pk_url_kwarg = "code"
    permission_action = "change"
    section = SECTION
    submit_label = "Save changes"

    def load(self) -> None:
        self.object = self.get_object()
        self.page_title = f"Edit purpose {self.object.code}"

    def build_form(self, data: Any = None) -> PurposeForm:
        return PurposeForm(data, instance=self.object)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("purpose-list")}

    def save(self, form: PurposeForm) -> Purpose:
        # The code never changes (consents and jobs refer to it); the API updates the same way.
        return core.update(self.object, form.service_fields(), if_match=form.if_match())

    def success(self, purpose: Purpose) -> HttpResponse:
        messages.success(self.request, f"Changes to purpose “{purpose.code}” saved.")
        return redirect(f"{reverse('purpose-list')}#purpose-{purpose.code}")
