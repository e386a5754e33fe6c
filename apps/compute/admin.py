from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .models import ComputeCluster


@admin.register(ComputeCluster)
class ClusterAdmin(AuditedModelAdmin):
    list_display = ["name", "scheduler", "jurisdiction", "security_tier", "gpu_count", "price_per_gpu_hour"]
    readonly_fields = ["version"]
