"""Datasets, models and fine-tunes: lists, detail, create, edit, delete."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.generic import DetailView, View
from django.views.generic.detail import SingleObjectMixin

from apps.accounts.models import Project
from apps.catalog import services
from apps.catalog.filters import AssetFilterSet
from apps.catalog.models import Asset, AssetKind, DatasetVersion, Jurisdiction
from apps.core.mixins import RestrictedViewMixin
from apps.core.permissions import has_perm, projects_with_perm

from ..forms import AssetForm, DatasetVersionForm, DeleteForm
from .base import FilteredListView, FormPageMixin, SectionMixin, run_service, select_widget, visible_audit_events

ADD_ASSET = "catalog.add_asset"
ADD_VERSION = "catalog.add_datasetversion"


def section_for(asset: Asset) -> str:
    return "datasets" if asset.kind == AssetKind.DATASET else "models"


def list_url_for(asset: Asset) -> str:
    return reverse("dataset-list" if asset.kind == AssetKind.DATASET else "model-list")


class AssetListView(FilteredListView):
    model = Asset
    filterset_class = AssetFilterSet
    template_name = "web/assets/list.html"
    partial_template_name = "web/assets/_results.html"
    section = "datasets"
    filter_fields = ("classification", "storage_jurisdiction", "residency", "consent_status", "project", "tag")
    filter_labels = {"kind": "Kind", "classification": "Classification", "storage_jurisdiction": "Stored in",
                     "residency": "Residency", "consent_status": "Consent status", "project": "Project", "tag": "Tag"}

    def get_queryset(self):
        qs = super().get_queryset()
        return qs.datasets() if self.section == "datasets" else qs.models()

    def optimize(self, qs):
        # Every column comes from these joins: one query per page whatever its length.
        return qs.with_related().order_by("name", "namespace", "id")

    def customize_filter_form(self, form: forms.Form) -> None:
        projects = Project.objects.restrict(self.request.user).values_list("slug", "name")
        select_widget(form, "project", [(slug, f"{slug} — {name}") for slug, name in projects])
        select_widget(form, "storage_jurisdiction", list(Jurisdiction.objects.values_list("code", "code")))
        select_widget(form, "residency", [("known", "Known"), ("unknown", "Unknown")])
        select_widget(form, "consent_status", [c for c in form.fields["consent_status"].choices if c[0]])
        for name in ("classification", "kind"):
            form.fields[name].widget = forms.CheckboxSelectMultiple(choices=form.fields[name].choices)
        if self.section == "models":
            form.fields["kind"].choices = [c for c in form.fields["kind"].choices if c[0] != AssetKind.DATASET]
            form.fields["kind"].widget.choices = form.fields["kind"].choices

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        datasets = self.section == "datasets"
        ctx.update(
            page_title="Datasets" if datasets else "Models and fine-tunes",
            list_url=reverse("dataset-list" if datasets else "model-list"),
            create_url=reverse("dataset-create" if datasets else "model-create"),
            create_label="New dataset" if datasets else "New model or fine-tune",
            can_add=bool(projects_with_perm(self.request.user, ADD_ASSET)),
        )
        return ctx


class ModelListView(AssetListView):
    section = "models"
    filter_fields = ("kind", *AssetListView.filter_fields)


class AssetDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = Asset.objects.with_related()
    template_name = "web/assets/detail.html"
    context_object_name = "asset"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        asset: Asset = self.object
        user = self.request.user
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            section=section_for(asset),
            can_change=self.can("change", asset),
            can_delete=self.can("delete", asset),
            can_add_version=asset.kind == AssetKind.DATASET and has_perm(user, ADD_VERSION, asset.project_id),
            # Related assets are filtered too: lineage must not reveal another project's names.
            training_datasets=asset.training_datasets.all().restrict(user).select_related("project"),
            fine_tunes=asset.fine_tunes.all().restrict(user).select_related("project"),
            trained_models=asset.trained_models.all().restrict(user).select_related("project"),
            versions=DatasetVersion.objects.restrict(user).filter(dataset=asset).select_related("consent"),
            events=visible_audit_events(user).for_object(asset)[:10],
        )
        return ctx


class AssetCreateView(FormPageMixin, View):
    model = Asset
    kind = AssetKind.DATASET
    section = "datasets"

    def load(self) -> None:
        if not projects_with_perm(self.request.user, ADD_ASSET):
            raise PermissionDenied("Your role does not allow adding datasets or models in any project.")

    @property
    def page_title(self) -> str:  # type: ignore[override]
        return "New dataset" if self.kind == AssetKind.DATASET else "New model or fine-tune"

    submit_label = "Create"

    def build_form(self, data: Any = None) -> AssetForm:
        return AssetForm(data, user=self.request.user, kind=self.kind)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("dataset-list" if self.kind == AssetKind.DATASET else "model-list"),
                "fieldsets": asset_fieldsets(form)}

    def save(self, form: AssetForm) -> Asset:
        fields = form.service_fields()
        self.require("add", fields["project"])
        kind = self.kind
        if kind != AssetKind.DATASET and fields.get("base_model"):
            kind = AssetKind.FINE_TUNE
        return services.create_asset(kind, fields, training_datasets=form.cleaned_data.get("training_datasets"))

    def success(self, asset: Asset) -> HttpResponse:
        messages.success(self.request, f"{asset.get_kind_display()} “{asset.name}” created.")
        return redirect("asset-detail", pk=asset.pk)


class ModelCreateView(AssetCreateView):
    kind = AssetKind.MODEL
    section = "models"


class AssetEditView(FormPageMixin, SingleObjectMixin, View):
    queryset = Asset.objects.with_related()
    permission_action = "change"
    submit_label = "Save changes"

    def load(self) -> None:
        self.object = self.get_object()
        self.section = section_for(self.object)
        self.page_title = f"Edit {self.object.name}"

    def build_form(self, data: Any = None) -> AssetForm:
        return AssetForm(data, user=self.request.user, kind=self.object.kind, instance=self.object)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("asset-detail", args=[self.object.pk]), "fieldsets": asset_fieldsets(form)}

    def save(self, form: AssetForm) -> Asset:
        fields = form.service_fields()
        if fields["project"].pk != self.object.project_id:
            self.require("add", fields["project"])
        training = form.cleaned_data.get("training_datasets") if "training_datasets" in form.fields else None
        return services.update_asset(self.object, fields, training_datasets=training, if_match=form.if_match(self.object))

    def success(self, asset: Asset) -> HttpResponse:
        messages.success(self.request, f"Changes to “{asset.name}” saved.")
        return redirect("asset-detail", pk=asset.pk)


class AssetDeleteView(SectionMixin, RestrictedViewMixin, SingleObjectMixin, View):
    queryset = Asset.objects.with_related()
    permission_action = "delete"

    def render_confirm(self, form: DeleteForm) -> HttpResponse:
        return render(self.request, "web/assets/confirm_delete.html",
                      {"asset": self.object, "form": form, "section": section_for(self.object)})

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        return self.render_confirm(DeleteForm(initial={"version": self.object.version}))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = asset = self.get_object()
        form = DeleteForm(request.POST)
        # delete_asset returns None; "or True" tells run_service's caller it succeeded.
        if form.is_valid() and run_service(form, lambda: services.delete_asset(asset, if_match=form.if_match(asset)) or True):
            messages.success(request, f"{asset.get_kind_display()} “{asset.name}” deleted.")
            return redirect(list_url_for(asset))
        return self.render_confirm(form)


class DatasetVersionCreateView(FormPageMixin, SingleObjectMixin, View):
    """Record a version (snapshot, partition) of a dataset: ``create_dataset_version``."""

    queryset = Asset.objects.datasets().with_related()
    section = "datasets"
    submit_label = "Add version"

    def load(self) -> None:
        self.object = self.get_object()  # restricted: another project's dataset is a 404
        if not has_perm(self.request.user, ADD_VERSION, self.object.project_id):
            raise PermissionDenied("Your role does not allow recording dataset versions here.")
        self.page_title = f"New version of {self.object.name}"

    def build_form(self, data: Any = None) -> DatasetVersionForm:
        return DatasetVersionForm(data, user=self.request.user, dataset=self.object)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("asset-detail", args=[self.object.pk])}

    def save(self, form: DatasetVersionForm) -> DatasetVersion:
        return services.create_dataset_version(self.object, form.cleaned_data)

    def success(self, version: DatasetVersion) -> HttpResponse:
        messages.success(self.request, f"Version {version.version} recorded.")
        return redirect("asset-detail", pk=self.object.pk)


def asset_fieldsets(form: forms.Form) -> list[tuple[str, list[forms.BoundField]]]:
    """Group the asset form as a compliance officer reads it: what, where, under which basis."""
    groups = [
        ("Identity", ["project", "namespace", "name", "owner", "description", "tags"]),
        ("Lineage", ["base_model", "training_datasets"]),
        ("Classification and residency", ["classification", "contains_pii", "storage_jurisdiction", "processing_jurisdictions"]),
        ("Legal basis", ["consent"]),
    ]
    return [(legend, [form[n] for n in names if n in form.fields]) for legend, names in groups
            if any(n in form.fields for n in names)]
