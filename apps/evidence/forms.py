from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from apps.accounts.models import Project
from apps.catalog.models import Asset
from apps.core.permissions import ALL

from .services import exportable_projects


class ExportForm(forms.Form):
    since = forms.DateTimeField(label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                help_text="UTC. Events that occurred at or after this time.")
    until = forms.DateTimeField(label="Until", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                help_text="UTC, exclusive. Empty: up to the moment the bundle is built.")
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False, empty_label="All projects you may export")
    asset = forms.ModelChoiceField(queryset=Asset.objects.none(), required=False, empty_label="No single model",
                                   label="Model", help_text="A model or fine-tune, with its base models and training datasets.")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any):
        kwargs.setdefault("initial", {"since": (timezone.now() - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")})
        super().__init__(*args, **kwargs)
        allowed = exportable_projects(user)
        projects = Project.objects.all() if allowed == ALL else Project.objects.filter(pk__in=allowed)
        models = Asset.objects.models().select_related("project")
        if allowed != ALL:
            models = models.filter(project_id__in=allowed)
            self.fields["project"].empty_label = None if allowed else "—"
        self.fields["project"].queryset = projects
        self.fields["asset"].queryset = models.order_by("namespace", "name")[:500]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("since", "until"):
            value = data.get(name)
            if value is not None and timezone.is_naive(value):
                data[name] = timezone.make_aware(value, dt.UTC)
        return data
