from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin

from .models import ApiToken, Membership, Project, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "kind", "org_role", "owner", "service_project", "is_active"]
    list_filter = ["kind", "org_role", "is_active"]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("govhub", {"fields": ("kind", "org_role", "owner", "service_project", "description")}))

    def save_model(self, request, obj, form, change):
        from django.db import transaction

        from apps import audit

        with transaction.atomic():
            before = audit.snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
            super().save_model(request, obj, form, change)
            audit.record("accounts.user.update" if change else "accounts.user.create", obj, before=before, after=audit.snapshot(obj))


@admin.register(Project)
class ProjectAdmin(AuditedModelAdmin):
    list_display = ["slug", "name"]


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    list_display = ["user", "project", "role"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Read-only: tokens are issued by the service (value shown once), never typed in here."""

    list_display = ["name", "user", "key_id", "scope", "expires_at", "revoked_at"]
    readonly_fields = [f.name for f in ApiToken._meta.fields]
