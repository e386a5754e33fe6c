"""Admin writes go through the same audited services as the API and the UI."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from apps.core import services as core


class AuditedModelAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data
                  if name in form.cleaned_data and not obj._meta.get_field(name).many_to_many}
        m2m = {name: form.cleaned_data[name] for name in form.changed_data
               if name in form.cleaned_data and obj._meta.get_field(name).many_to_many}
        if change:
            updated = core.update(obj, fields, m2m=m2m or None)
            obj.pk = updated.pk
            for name in ("version",):
                if hasattr(updated, name):
                    setattr(obj, name, getattr(updated, name))
        else:
            all_fields = {f.name: getattr(obj, f.name) for f in obj._meta.concrete_fields if not f.primary_key or getattr(obj, f.attname) is not None}
            all_fields = {k: v for k, v in all_fields.items() if k not in {"id", "created_at", "updated_at"}}
            created = core.create(type(obj), all_fields, m2m=m2m or None)
            obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        # m2m were saved by the service; only inline formsets remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        core.delete(obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                core.delete(obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that only services write (ledger, usage, exports, tokens): the admin may look,
    never add, edit or delete, since a write here would bypass the audited service."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
