from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.fields import RestrictedRelatedFieldsMixin
from apps.core.api.viewsets import RestrictedModelViewSet
from apps.core.permissions import has_perm
from apps.core.roles import Role

from .. import services
from ..models import ApiToken, Membership, Project, TokenScope, User, UserKind


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ProjectViewSet(RestrictedModelViewSet):
    queryset = Project.objects.all()
    serializer_class = ProjectSerializer
    lookup_field = "slug"
    create_project_field = None
    ordering_fields = ["slug", "id"]
    filterset_fields = ["slug"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def service_create(self, data):
        return services.create_project(data, creator=self.request.user)

    def service_update(self, obj, data, if_match):
        return services.update_project(obj, data, if_match=if_match)


class MembershipSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    restricted_fields = {"project": "view"}

    class Meta:
        model = Membership
        fields = ["id", "user", "project", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list = []  # POST is an upsert of the role (services.set_membership)


class MembershipViewSet(RestrictedModelViewSet):
    queryset = Membership.objects.all()
    serializer_class = MembershipSerializer
    ordering_fields = ["id"]
    filterset_fields = ["project__slug", "role"]

    def optimize_queryset(self, qs):
        return qs.select_related("user", "project")

    def service_create(self, data):
        return services.set_membership(data["user"], data["project"], data["role"])

    def service_update(self, obj, data, if_match):
        if data.get("user", obj.user) != obj.user or data.get("project", obj.project) != obj.project:
            raise exceptions.ValidationError({"user": "Change only the role; remove and add to move someone."})
        return services.set_membership(obj.user, obj.project, data.get("role", obj.role))

    def service_delete(self, obj, if_match):
        services.remove_membership(obj)


class ServiceAccountSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    project = serializers.SlugRelatedField(source="service_project", slug_field="slug", queryset=Project.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ML_ENGINEER, write_only=True,
                                   help_text="ml_engineer or data_steward: a pipeline never administers.")
    restricted_fields = {"project": "view"}

    def validate_role(self, value: str) -> str:
        if value not in (Role.ML_ENGINEER, Role.DATA_STEWARD):
            raise serializers.ValidationError("A service account is an ml_engineer or a data_steward.")
        return value

    class Meta:
        model = User
        fields = ["id", "username", "project", "owner", "description", "is_active", "date_joined", "role"]
        read_only_fields = ["id", "owner", "is_active", "date_joined"]


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_id", "scope", "status", "created_at", "expires_at", "revoked_at", "last_used_at"]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.READ)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=services.MAX_TOKEN_DAYS, default=90)


class ServiceAccountViewSet(RestrictedModelViewSet):
    """Non-human identities for pipelines and agents. Tokens are shown once at creation."""

    queryset = User.objects.filter(kind=UserKind.SERVICE)
    serializer_class = ServiceAccountSerializer
    create_project_field = "service_project"
    ordering_fields = ["id", "username"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    object_action_map = {"tokens": "change", "revoke_token": "change"}

    def check_create_permission(self, validated):
        project = validated["service_project"]
        if not has_perm(self.request.user, "accounts.add_serviceaccount", project):
            raise exceptions.PermissionDenied(f"Your role does not allow creating service accounts in project {project}.")

    def perm(self, action: str) -> str:
        return f"accounts.{action}_serviceaccount"

    def get_queryset(self):
        from apps.core.permissions import ALL, projects_with_perm

        allowed = projects_with_perm(self.request.user, "accounts.view_serviceaccount")
        qs = User.objects.filter(kind=UserKind.SERVICE).select_related("owner", "service_project")
        return qs if allowed == ALL else qs.filter(service_project__in=allowed)

    def service_create(self, data):
        if self.request.user.kind != UserKind.HUMAN:
            raise exceptions.PermissionDenied("Only a person can own a service account.")
        return services.create_service_account(
            data["username"], owner=self.request.user, project=data["service_project"],
            description=data.get("description", ""), role=data.get("role", Role.ML_ENGINEER),
        )

    def service_update(self, obj, data, if_match):
        from apps.core import services as core

        allowed = {k: v for k, v in data.items() if k == "description"}
        return core.update(obj, allowed, if_match=if_match, action="accounts.serviceaccount.update")

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenSerializer})
    @action(detail=True, methods=["get", "post"])
    def tokens(self, request, pk=None):
        """List the account's tokens, or create one (its value is in the response, once)."""
        account = self.get_object()
        if request.method == "GET":
            return Response(TokenSerializer(account.api_tokens.all(), many=True).data)
        body = TokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, raw = services.issue_token(account, created_by=request.user if request.user.kind == UserKind.HUMAN else None,
                                          **body.validated_data)
        return Response({**TokenSerializer(token).data, "token": raw}, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"], url_path=r"tokens/(?P<token_id>\d+)/revoke")
    def revoke_token(self, request, pk=None, token_id=None):
        account = self.get_object()
        token = account.api_tokens.filter(pk=token_id).first()
        if token is None:
            raise exceptions.NotFound("No such token on this account.")
        return Response(TokenSerializer(services.revoke_token(token)).data)


class MeSerializer(serializers.ModelSerializer):
    memberships = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "kind", "org_role", "memberships"]

    def get_memberships(self, obj) -> list[dict]:
        return [{"project": m.project.slug, "role": m.role} for m in obj.memberships.select_related("project")]


class MeView(APIView):
    """Who am I, and which roles do I hold where? Pipelines call this to check a token."""

    skip_role_permission = True

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
