from django.contrib import admin

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin

from .models import BudgetLimits, ClusterConnection, Notification, UsageRecord


@admin.register(ClusterConnection)
class ClusterConnectionAdmin(AuditedModelAdmin):
    list_display = ["cluster", "backend", "telemetry_source", "updated_at"]
    readonly_fields = ["version"]


@admin.register(BudgetLimits)
class BudgetLimitsAdmin(AuditedModelAdmin):
    list_display = ["budget", "gpu_hours_limit", "energy_kwh_limit", "max_concurrent_gpus", "warn_percent", "hard_percent"]
    readonly_fields = ["version", "warned_at", "exceeded_at"]


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = ["job", "project", "cluster", "gpu_hours", "energy_kwh", "cost", "currency", "co2e_kg", "scheduler_state"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "subject", "emailed_at"]
