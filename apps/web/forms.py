"""UI forms. They only parse and present input: every write goes to a service function, whose
``ValidationError`` is mapped back onto the form (``apply_service_errors``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Project, TokenScope, User, UserKind
from apps.accounts.services import MAX_TOKEN_DAYS
from apps.catalog import services as catalog
from apps.catalog.models import (
    Asset,
    AssetKind,
    Classification,
    ConsentRecord,
    ConsentStatus,
    Jurisdiction,
    JurisdictionKind,
    LegalBasis,
    Purpose,
)
from apps.catalog.models.jurisdictions import pattern_validator
from apps.compute.models import ComputeCluster
from apps.core.permissions import ALL, has_perm, projects_with_perm
from apps.core.roles import ROLE_PERMISSIONS, Role
from apps.core.services import etag_for


def apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: next to the field it names when the form
    has that field, otherwise at the top (prefixed with the field, so nothing is lost)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        if field in form.fields:
            form.add_error(field, errors)
        elif field == NON_FIELD_ERRORS:
            form.add_error(None, errors)
        else:
            form.add_error(None, [f"{field.replace('_', ' ').capitalize()}: {e}" for e in errors])


def projects_for(user: Any, perm: str, *, include: Project | None = None):
    """Projects where ``user`` holds ``perm`` (plus ``include``, the object's current project)."""
    allowed = projects_with_perm(user, perm)
    qs = Project.objects.all()
    if allowed != ALL:
        ids = set(allowed) | ({include.pk} if include else set())
        qs = qs.filter(pk__in=ids)
    return qs.order_by("slug")


class ListField(forms.CharField):
    """A comma-separated list in one text box (tags, categories, jurisdiction codes)."""

    def __init__(self, *, upper: bool = False, **kwargs: Any):
        self.upper = upper
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, (list, tuple)):
            items = [str(v) for v in value]
        else:
            items = str(value or "").replace(";", ",").split(",")
        seen: list[str] = []
        for item in (i.strip() for i in items):
            item = item.upper() if self.upper else item
            if item and item not in seen:
                seen.append(item)
        return seen

    def prepare_value(self, value: Any) -> str:
        return ", ".join(value) if isinstance(value, (list, tuple)) else (value or "")

    def has_changed(self, initial: Any, data: Any) -> bool:
        return sorted(self.to_python(initial)) != sorted(self.to_python(data))


class ConsentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ConsentRecord) -> str:
        return f"{obj.project.slug} · {obj.reference} ({obj.get_legal_basis_display()})"


class AssetChoiceMixin:
    def label_from_instance(self, obj: Asset) -> str:
        return f"{obj.project.slug} · {obj}"


class AssetChoiceField(AssetChoiceMixin, forms.ModelChoiceField):
    pass


class AssetMultipleChoiceField(AssetChoiceMixin, forms.ModelMultipleChoiceField):
    pass


class VersionedForm(forms.Form):
    """Edits carry the version the user read; the service refuses the write if it moved on."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def if_match(self, obj: Any) -> str | None:
        version = self.cleaned_data.get("version")
        return f'"{obj.pk}-{version}"' if version else None


class AssetForm(VersionedForm):
    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None)
    namespace = forms.CharField(max_length=500, help_text="Storage location, e.g. s3://acme-eu-health or postgres://db.fra.internal/warehouse")
    name = forms.CharField(max_length=500)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="No owner")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    tags = ListField(help_text="Comma-separated, e.g. oncology, imaging")
    classification = forms.ChoiceField(choices=Classification.choices, initial=Classification.INTERNAL)
    contains_pii = forms.BooleanField(required=False, label="Contains personal data (PII)")
    storage_jurisdiction = forms.ModelChoiceField(
        queryset=Jurisdiction.objects.all(), required=False, empty_label="Infer from namespace rules / unknown",
        help_text="Where the data is stored. Left empty, a namespace rule decides; with no matching rule residency stays unknown.",
    )
    processing_jurisdictions = ListField(
        upper=True, max_length=200,
        help_text="Comma-separated codes where it may be processed, e.g. DE, EU. Empty: only the storage jurisdiction.",
    )
    consent = ConsentChoiceField(
        queryset=ConsentRecord.objects.none(), required=False, empty_label="Unknown / none recorded",
        help_text="The consent or legal basis (GDPR Art. 6) the data was collected under; it must belong to the same project.",
    )

    def __init__(self, *args: Any, user: Any, kind: str, instance: Asset | None = None, **kwargs: Any):
        self.user, self.kind, self.instance = user, kind, instance
        if instance is not None:
            kwargs.setdefault("initial", self.initial_from(instance))
        super().__init__(*args, **kwargs)
        current_project = instance.project if instance else None
        self.fields["project"].queryset = projects_for(user, "catalog.add_asset", include=current_project)
        self.fields["owner"].queryset = self._owner_choices(instance)
        if instance is None:
            self.fields["owner"].initial = user.pk if getattr(user, "kind", None) == UserKind.HUMAN else None
            del self.fields["version"]
        consents = ConsentRecord.objects.restrict(user).select_related("project")
        current_consent = instance.consent_id if instance else None
        # A withdrawn consent can't justify new use; it stays selectable only where already set.
        self.fields["consent"].queryset = consents.filter(~Q(status=ConsentStatus.WITHDRAWN) | Q(pk=current_consent)).order_by("project__slug", "reference")
        if kind != AssetKind.DATASET:
            models_qs = Asset.objects.restrict(user).models().select_related("project")
            if instance is not None:
                models_qs = models_qs.exclude(pk=instance.pk)
            if instance is None or kind == AssetKind.FINE_TUNE:
                self.fields["base_model"] = AssetChoiceField(
                    queryset=models_qs, required=kind == AssetKind.FINE_TUNE,
                    empty_label="None: a base model" if instance is None else None,
                    help_text="Choose the model it was trained from to register a fine-tune.",
                )
            self.fields["training_datasets"] = AssetMultipleChoiceField(
                queryset=Asset.objects.restrict(user).datasets().select_related("project"), required=False,
                widget=forms.SelectMultiple(attrs={"size": 6}),
                help_text="Datasets it was trained or fine-tuned on (Ctrl/Cmd-click to choose several).",
            )
            self.order_fields(["project", "base_model", "training_datasets"])

    @staticmethod
    def initial_from(asset: Asset) -> dict[str, Any]:
        data = {name: getattr(asset, name) for name in (
            "namespace", "name", "description", "tags", "classification", "contains_pii", "processing_jurisdictions", "version")}
        data.update(project=asset.project_id, owner=asset.owner_id, storage_jurisdiction=asset.storage_jurisdiction_id,
                    consent=asset.consent_id, base_model=asset.base_model_id)
        if asset.kind != AssetKind.DATASET:
            data["training_datasets"] = list(asset.training_datasets.values_list("pk", flat=True))
        return data

    def _owner_choices(self, instance: Asset | None):
        people = User.objects.filter(kind=UserKind.HUMAN, is_active=True).order_by("username")
        visible = projects_with_perm(self.user, "accounts.view_project")
        if visible == ALL:
            return people
        keep = Q(pk=self.user.pk) | Q(memberships__project__in=visible)
        if instance is not None and instance.owner_id:
            keep |= Q(pk=instance.owner_id)
        return people.filter(keep).distinct()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("processing_jurisdictions") and not data.get("storage_jurisdiction") and "storage_jurisdiction" not in self.errors:
            self.add_error("storage_jurisdiction", "Say where the data is stored before where it may be processed, "
                                                   "or leave both empty to infer them from the namespace rules.")
        return data

    def service_fields(self) -> dict[str, Any]:
        """The fields to hand to create_asset/update_asset. Residency is passed only when the
        user set or changed it, so an inferred residency is not silently relabelled 'declared'."""
        d = self.cleaned_data
        fields = {k: d[k] for k in ("project", "namespace", "name", "owner", "description", "tags", "classification",
                                    "contains_pii", "consent")}
        if "base_model" in d:
            fields["base_model"] = d["base_model"]
        storage, processing = d["storage_jurisdiction"], d["processing_jurisdictions"]
        if self.instance is None:
            if storage:
                fields.update(storage_jurisdiction=storage, processing_jurisdictions=processing)
            return fields
        changed = {"storage_jurisdiction", "processing_jurisdictions"} & set(self.changed_data)
        if changed and storage:
            fields.update(storage_jurisdiction=storage, processing_jurisdictions=processing or [storage.pk])
        elif changed:
            inferred = catalog.infer_residency({"namespace": d["namespace"], "name": d["name"]})
            fields.update({k: inferred[k] for k in ("storage_jurisdiction", "processing_jurisdictions", "residency_source")})
        return fields


class DeleteForm(VersionedForm):
    pass


class DatasetVersionForm(forms.Form):
    version = forms.CharField(max_length=100, help_text="e.g. 2025-06 or v3; unique per dataset.")
    location = forms.CharField(max_length=500, required=False, help_text="Where this snapshot or partition lives.")
    row_count = forms.IntegerField(min_value=0, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    consent = ConsentChoiceField(
        queryset=ConsentRecord.objects.none(), required=False, empty_label="Same as the dataset",
        help_text="Only when this version was collected under a different consent record.",
    )

    def __init__(self, *args: Any, user: Any, dataset: Asset, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["consent"].queryset = (
            ConsentRecord.objects.restrict(user).filter(project_id=dataset.project_id)
            .exclude(status=ConsentStatus.WITHDRAWN).select_related("project")
        )


def _purpose_choices() -> list[tuple[str, str]]:
    return [(p.code, f"{p.code} — {p.name}") for p in Purpose.objects.order_by("code")]


class ConsentForm(VersionedForm):
    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None)
    reference = forms.CharField(max_length=200, help_text="Receipt, contract or register reference.")
    legal_basis = forms.ChoiceField(choices=LegalBasis.choices, label="Legal basis (GDPR Art. 6)")
    purposes = forms.MultipleChoiceField(
        choices=_purpose_choices, widget=forms.CheckboxSelectMultiple,
        help_text="Purposes the data may be used for; a purpose covers the ones below it (research covers research.medical).",
    )
    jurisdiction_scope = ListField(upper=True, max_length=200, help_text="Comma-separated codes, e.g. DE, EU. Empty: no restriction recorded.")
    data_subject_categories = ListField(help_text="Comma-separated, e.g. patients, employees")
    personal_data_categories = ListField(help_text="Comma-separated, e.g. health, contact details")
    controller = forms.CharField(max_length=200, required=False)
    valid_from = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), label="Valid from (UTC)",
    )
    valid_until = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), required=False,
        label="Valid until (UTC)", help_text="Empty: no end date.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    FIELDS = ("reference", "legal_basis", "purposes", "jurisdiction_scope", "data_subject_categories",
              "personal_data_categories", "controller", "valid_from", "valid_until", "notes")

    def __init__(self, *args: Any, user: Any, instance: ConsentRecord | None = None, **kwargs: Any):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault("initial", {**{f: getattr(instance, f) for f in self.FIELDS}, "version": instance.version})
        super().__init__(*args, **kwargs)
        if instance is None:
            self.fields["project"].queryset = projects_for(user, "catalog.add_consentrecord")
            self.fields["valid_from"].initial = timezone.now().replace(second=0, microsecond=0)
            del self.fields["version"]
        else:
            # Assets must share their consent's project, so a record never moves.
            del self.fields["project"]

    def service_fields(self) -> dict[str, Any]:
        names = self.FIELDS + (("project",) if "project" in self.fields else ())
        return {k: self.cleaned_data[k] for k in names}


class WithdrawForm(VersionedForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
        help_text="Why the consent is withdrawn, e.g. the data subject's request of 2025-03-01 (ticket DPO-123).",
    )


class ProjectForm(forms.Form):
    slug = forms.CharField(max_length=63, help_text="2-63 lowercase letters, digits and hyphens; used in URLs and the API.")
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class MembershipForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.filter(kind=UserKind.HUMAN, is_active=True).order_by("username"),
                                  label="Person")
    role = forms.ChoiceField(choices=Role.choices)


SERVICE_ROLES = [(Role.ML_ENGINEER.value, Role.ML_ENGINEER.label), (Role.DATA_STEWARD.value, Role.DATA_STEWARD.label)]


class ServiceAccountForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="e.g. etl-health-nightly; letters, digits and @.+-_ only.")
    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None)
    role = forms.ChoiceField(choices=SERVICE_ROLES, initial=Role.ML_ENGINEER,
                             help_text="You can only give a role whose rights you hold yourself in that project.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                                  help_text="What runs as this account, so others know whom to ask.")

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["project"].queryset = projects_for(user, "accounts.add_serviceaccount")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        project, role = data.get("project"), data.get("role")
        if project and role:
            # No privilege escalation through a machine identity: every write right of the
            # role must already be the creator's in that project.
            missing = [p for p in ROLE_PERMISSIONS[role] if "*" not in p and not has_perm(self.user, p, project)]
            if missing:
                self.add_error("role", f"Your own role in {project} does not include all rights of a {Role(role).label}.")
        return data


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. the nightly Airflow DAG.")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ)
    expires_in_days = forms.IntegerField(min_value=1, max_value=MAX_TOKEN_DAYS, initial=90, label="Expires in (days)")


class ClusterForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ComputeCluster
        fields = ["name", "display_name", "scheduler", "jurisdiction", "region", "security_tier", "confidential_computing",
                  "gpu_model", "gpu_count", "price_per_gpu_hour", "currency", "power_per_gpu_watts",
                  "carbon_intensity_g_per_kwh", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any):
        instance = kwargs.get("instance")
        if instance is not None and instance.pk:
            kwargs.setdefault("initial", {"version": instance.version})
        super().__init__(*args, **kwargs)

    def if_match(self, obj: Any) -> str | None:
        version = self.cleaned_data.get("version")
        return f'"{obj.pk}-{version}"' if version else None

    def service_fields(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in self.Meta.fields}



# --- global reference data: namespace rules, jurisdictions, purposes ---------------------------

class EtagForm(forms.Form):
    """Reference data keeps no version column; edits carry the ETag (a digest of the row) the
    user read, so the service refuses a write over someone else's change."""

    etag = forms.CharField(widget=forms.HiddenInput, required=False)

    def if_match(self) -> str | None:
        return self.cleaned_data.get("etag") or None


class NamespaceRuleForm(EtagForm):
    pattern = forms.CharField(
        max_length=300, validators=[pattern_validator],  # the model's own check, shown next to any service error
        help_text="A shell-style glob matched against the namespace or namespace/name, e.g. s3://acme-eu-* or "
                  "postgres://db.fra.internal:5432/*. Case-insensitive; no spaces.",
    )
    jurisdiction = forms.ModelChoiceField(queryset=Jurisdiction.objects.all(), label="Storage jurisdiction",
                                          help_text="Where data under matching locations is stored.")
    processing_jurisdictions = ListField(
        upper=True, max_length=200,
        help_text="Comma-separated codes where it may be processed, e.g. DE, EU. Empty: only the storage jurisdiction.",
    )
    priority = forms.IntegerField(initial=0, help_text="The highest priority wins; among equals, the longest pattern.")
    description = forms.CharField(max_length=300, required=False)

    FIELDS = ("pattern", "jurisdiction", "processing_jurisdictions", "priority", "description")

    def __init__(self, *args: Any, instance: Any = None, **kwargs: Any):
        if instance is not None:
            kwargs.setdefault("initial", {**{f: getattr(instance, f) for f in self.FIELDS},
                                          "jurisdiction": instance.jurisdiction_id, "etag": etag_for(instance)})
        super().__init__(*args, **kwargs)
        if instance is None:
            del self.fields["etag"]

    def service_fields(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in self.FIELDS}


class LocationTestForm(forms.Form):
    """“Which rule decides residency for this location?” (read-only: resolve_namespace)."""

    namespace = forms.CharField(max_length=500, help_text="e.g. s3://acme-eu-health or postgres://db.fra.internal:5432")
    name = forms.CharField(max_length=500, required=False, label="Name (optional)",
                           help_text="The asset's name within the namespace, e.g. warehouse/patients.")


class JurisdictionForm(EtagForm):
    code = forms.CharField(max_length=8, help_text="ISO 3166-1 alpha-2 for a country (DE); 2–8 capital letters for a bloc (EU).")
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=JurisdictionKind.choices, initial=JurisdictionKind.COUNTRY)
    members = ListField(
        upper=True, label="Member countries", widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Blocs only: comma-separated codes, e.g. DE, FR, NL. A bloc stands for its members wherever processing is allowed.",
    )

    def __init__(self, *args: Any, instance: Jurisdiction | None = None, **kwargs: Any):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault("initial", {"name": instance.name, "kind": instance.kind, "etag": etag_for(instance),
                                          "members": sorted(m.code for m in instance.members.all())})
        super().__init__(*args, **kwargs)
        if instance is None:
            del self.fields["etag"]
        else:
            del self.fields["code"]  # the primary key: assets, rules and clusters point at it

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == JurisdictionKind.COUNTRY and data.get("members"):
            self.add_error("members", "Only a bloc has member countries; choose the kind “Bloc” or leave this empty.")
        return data

    def service_fields(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in ("code", "name", "kind") if k in self.fields}


class PurposeForm(EtagForm):
    code = forms.CharField(
        max_length=100,
        help_text="Dotted lowercase code; the part before the last dot is the parent, which must exist "
                  "(research.medical.oncology under research.medical).",
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, instance: Purpose | None = None, **kwargs: Any):
        if instance is not None:
            kwargs.setdefault("initial", {"name": instance.name, "description": instance.description,
                                          "etag": etag_for(instance)})
        super().__init__(*args, **kwargs)
        if instance is None:
            del self.fields["etag"]
        else:
            del self.fields["code"]  # consents and jobs refer to purposes by code

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().lower()

    def service_fields(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in ("code", "name", "description") if k in self.fields}
