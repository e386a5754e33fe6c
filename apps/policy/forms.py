"""UI forms for policies, versions and waivers. Parameters are rendered from each template's typed
parameter list; the services validate everything again (and compile Rego)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.accounts.models import Project
from apps.compute.models import ComputeCluster
from apps.jobs.models import JobKind

from .models import Action, Policy, Template
from .rules import TEMPLATES

TEXTAREA = {"rows": 3}


class PolicyCreateForm(forms.Form):
    slug = forms.SlugField(max_length=100, help_text="A short identifier, e.g. eu-residency. Shown in every decision.")
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs=TEXTAREA), required=False)
    template = forms.ChoiceField(choices=Template.choices, help_text="A built-in rule, or a custom rule in Rego.")

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Policy.objects.filter(slug=slug).exists():
            raise ValidationError("A policy with this slug exists.")
        return slug


def _param_field(p: Any, value: Any) -> forms.Field:
    help_text = p.help
    if p.kind == "bool":
        return forms.BooleanField(label=p.label, required=False, initial=value, help_text=help_text)
    if p.kind == "int":
        return forms.IntegerField(label=p.label, min_value=0, initial=value, help_text=help_text)
    if p.kind == "decimal":
        return forms.DecimalField(label=p.label, min_value=0, initial=value, help_text=help_text)
    if p.kind == "list" and p.choices:
        return forms.MultipleChoiceField(label=p.label, choices=[(c, c) for c in p.choices], initial=value, required=False,
                                         widget=forms.CheckboxSelectMultiple, help_text=help_text)
    if p.kind == "list":
        return forms.CharField(label=p.label, initial=", ".join(value or []), required=False,
                               help_text=(help_text + " Comma-separated.").strip())
    if p.kind == "mapping":
        return forms.CharField(label=p.label, widget=forms.Textarea(attrs=TEXTAREA), required=False,
                               initial="\n".join(f"{k}={v}" for k, v in (value or {}).items()), help_text=help_text)
    if p.kind == "choice":
        return forms.ChoiceField(label=p.label, choices=[(c, c) for c in p.choices], initial=value, help_text=help_text)
    return forms.CharField(label=p.label, initial=value, required=False, help_text=help_text)


class VersionForm(forms.Form):
    """A draft's content: action, scope, parameters (per template), Rego module, tests."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    action = forms.ChoiceField(choices=Action.choices, help_text="What a violation does to the decision.")
    scope_projects = forms.MultipleChoiceField(label="Projects", required=False, widget=forms.CheckboxSelectMultiple,
                                               help_text="None ticked: every project.")
    scope_clusters = forms.MultipleChoiceField(label="Clusters", required=False, widget=forms.CheckboxSelectMultiple,
                                               help_text="None ticked: every cluster.")
    scope_asset_tags = forms.CharField(label="Asset tags", required=False, help_text="Comma-separated; empty: every asset.")
    scope_job_kinds = forms.MultipleChoiceField(label="Job kinds", required=False, choices=JobKind.choices,
                                                widget=forms.CheckboxSelectMultiple, help_text="None ticked: every kind.")
    rego_source = forms.CharField(label="Rego module", required=False, strip=False,
                                  widget=forms.Textarea(attrs={"rows": 18, "class": "code", "spellcheck": "false"}),
                                  help_text="deny / violation / warn sets of messages (or {msg, asset} objects). "
                                            "The input is the decision's facts document plus input.cluster.")
    tests = forms.CharField(label="Tests (JSON)", required=False, strip=False,
                            widget=forms.Textarea(attrs={"rows": 10, "class": "code", "spellcheck": "false"}),
                            help_text='[{"name": "...", "input": {facts, partial is fine}, "expect": [{"asset"?, "contains"?, "kind"?}]}]')
    change_note = forms.CharField(label="What changed and why", widget=forms.Textarea(attrs=TEXTAREA), required=False)

    def __init__(self, *args: Any, version: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.template = TEMPLATES[version.policy.template]
        scope = version.scope or {}
        self.fields["scope_projects"].choices = [(s, s) for s in Project.objects.order_by("slug").values_list("slug", flat=True)]
        self.fields["scope_clusters"].choices = [(n, n) for n in ComputeCluster.objects.order_by("name").values_list("name", flat=True)]
        self.initial.update(version=version.version, action=version.action, scope_projects=scope.get("projects", []),
                            scope_clusters=scope.get("clusters", []), scope_asset_tags=", ".join(scope.get("asset_tags", [])),
                            scope_job_kinds=scope.get("job_kinds", []), rego_source=version.rego_source,
                            tests=json.dumps(version.tests or [], indent=2), change_note=version.change_note)
        for p in self.template.params:
            self.fields[f"param_{p.name}"] = _param_field(p, (version.params or {}).get(p.name, p.default))
        if self.template.key != "rego":
            del self.fields["rego_source"]

    def clean_tests(self) -> list:
        text = self.cleaned_data["tests"].strip() or "[]"
        try:
            tests = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
        if not isinstance(tests, list):
            raise ValidationError("The tests are a JSON list.")
        return tests

    def param_groups(self) -> list:
        return [self[f"param_{p.name}"] for p in self.template.params]

    def content(self) -> dict[str, Any]:
        d = self.cleaned_data
        fields = {
            "action": d["action"], "tests": d["tests"], "change_note": d["change_note"],
            "scope": {"projects": d["scope_projects"], "clusters": d["scope_clusters"],
                      "asset_tags": [t.strip() for t in d["scope_asset_tags"].split(",") if t.strip()],
                      "job_kinds": d["scope_job_kinds"]},
            "params": {p.name: d[f"param_{p.name}"] for p in self.template.params},
        }
        if "rego_source" in self.fields:
            fields["rego_source"] = d["rego_source"]
        return fields

    @staticmethod
    def field_for(key: str) -> str:
        """Service error keys (params.x, scope.projects, tests[0].name) → this form's field names."""
        if key.startswith("params."):
            return "param_" + key.split(".", 1)[1]
        if key.startswith("scope."):
            return "scope_" + key.split(".", 1)[1]
        if key.startswith("tests"):
            return "tests"
        return key


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs=TEXTAREA), required=False, max_length=2000)


class WhatIfForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=365, initial=30, help_text="Replay the decisions of jobs submitted in the last N days.")


class WaiverForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=Policy.objects.order_by("slug"), to_field_name="slug")
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False, to_field_name="slug",
                                     empty_label="Every project (organisation-wide roles only)")
    assets = forms.CharField(required=False, help_text="Asset ids, comma-separated; empty: every asset.")
    clusters = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: every cluster.")
    job_kinds = forms.MultipleChoiceField(required=False, choices=JobKind.choices, widget=forms.CheckboxSelectMultiple)
    justification = forms.CharField(widget=forms.Textarea(attrs=TEXTAREA))
    ticket = forms.CharField(max_length=200, help_text="Where it was agreed, e.g. RISK-123.")
    expires_at = forms.DateTimeField(label="Expires", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                     help_text="Mandatory; at most a year away.")

    def __init__(self, *args: Any, projects: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects
        self.fields["clusters"].choices = [(n, n) for n in ComputeCluster.objects.order_by("name").values_list("name", flat=True)]

    def clean_assets(self) -> list[int]:
        try:
            return [int(a) for a in self.cleaned_data["assets"].replace(" ", "").split(",") if a]
        except ValueError:
            raise ValidationError("Asset ids are numbers, e.g. 12, 40.") from None

    def service_fields(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {"policy": d["policy"], "project": d["project"], "justification": d["justification"], "ticket": d["ticket"],
                "expires_at": d["expires_at"], "scope": {"assets": d["assets"], "clusters": d["clusters"], "job_kinds": d["job_kinds"]}}
