from rest_framework import serializers

from apps.core.api.viewsets import RestrictedModelViewSet

from .. import services
from ..filters import ClusterFilterSet
from ..models import ComputeCluster


class ClusterSerializer(serializers.ModelSerializer):
    class Meta:
        model = ComputeCluster
        fields = [
            "id", "name", "display_name", "scheduler", "jurisdiction", "region", "security_tier", "confidential_computing",
            "gpu_model", "gpu_count", "price_per_gpu_hour", "currency", "power_per_gpu_watts",
            "carbon_intensity_g_per_kwh", "enabled", "created_at", "updated_at", "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "version"]


class ClusterViewSet(RestrictedModelViewSet):
    """GPU clusters: where jobs may run, at what security tier and price."""

    queryset = ComputeCluster.objects.all()
    serializer_class = ClusterSerializer
    filterset_class = ClusterFilterSet
    ordering_fields = ["id", "name", "price_per_gpu_hour", "security_tier"]
    create_project_field = None
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def service_create(self, data):
        return services.create_cluster(data)

    def service_update(self, obj, data, if_match):
        return services.update_cluster(obj, data, if_match=if_match)
