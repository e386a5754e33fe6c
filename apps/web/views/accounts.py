"""Projects and their members; service accounts and their API tokens."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView, View
from django.views.generic.detail import SingleObjectMixin

from apps.accounts import services
from apps.accounts.models import ApiToken, Membership, Project, User, UserKind
from apps.catalog.models import Asset, AssetKind, ConsentRecord
from apps.core.mixins import RestrictedViewMixin
from apps.core.permissions import has_perm, projects_with_perm
from apps.core.roles import Role

from ..forms import MembershipForm, ProjectForm, ServiceAccountForm, TokenForm
from .base import PAGE_SIZE, FormPageMixin, SectionMixin, run_service


class ProjectListView(SectionMixin, RestrictedViewMixin, ListView):
    queryset = Project.objects.annotate(asset_count=Count("assets", distinct=True),
                                        member_count=Count("memberships", distinct=True)).order_by("slug")
    template_name = "web/projects/list.html"
    context_object_name = "projects"
    section = "projects"
    paginate_by = PAGE_SIZE

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["can_add"] = self.can("add")
        return ctx


class ProjectDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    """The project, its members and roles; administrators add people or change roles here."""

    model = Project
    slug_field = slug_url_kwarg = "slug"
    template_name = "web/projects/detail.html"
    context_object_name = "project"
    section = "projects"

    def can_manage(self, project: Project) -> bool:
        return has_perm(self.request.user, "accounts.add_membership", project)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        project: Project = self.object
        user = self.request.user
        ctx = super().get_context_data(**kwargs)
        counts = Asset.objects.restrict(user).filter(project=project).aggregate(
            datasets=Count("id", filter=Q(kind=AssetKind.DATASET)), models=Count("id", filter=Q(kind=AssetKind.MODEL)),
            fine_tunes=Count("id", filter=Q(kind=AssetKind.FINE_TUNE)), total=Count("id"),
        )
        ctx.update(
            counts=counts,
            consent_count=ConsentRecord.objects.restrict(user).filter(project=project).count(),
            memberships=Membership.objects.restrict(user).filter(project=project).select_related("user").order_by("user__username"),
            can_manage=self.can_manage(project),
            can_remove=has_perm(user, "accounts.delete_membership", project),
            member_form=kwargs.get("member_form") or MembershipForm(),
            role_choices=MembershipForm.base_fields["role"].choices,
        )
        return ctx

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = project = self.get_object()
        if not self.can_manage(project):
            raise PermissionDenied("Only administrators of this project can change its members.")
        form = MembershipForm(request.POST)
        if form.is_valid():
            person, role = form.cleaned_data["user"], form.cleaned_data["role"]
            if Membership.objects.filter(user=person, project=project).exists() and not has_perm(
                    request.user, "accounts.change_membership", project):
                raise PermissionDenied("Your role does not allow changing members' roles.")
            if run_service(form, lambda: services.set_membership(person, project, role)):
                messages.success(request, f"{person} is now {Role(role).label} in {project}.")
                return redirect("project-detail", slug=project.slug)
        return self.render_to_response(self.get_context_data(member_form=form))


class MembershipRemoveView(SectionMixin, RestrictedViewMixin, SingleObjectMixin, View):
    """Take someone out of a project (``remove_membership``): a confirm page, then a POST.
    Needs ``accounts.delete_membership`` in that project (administrators)."""

    queryset = Membership.objects.select_related("user", "project")
    permission_action = "delete"
    section = "projects"

    def get_queryset(self):
        return super().get_queryset().filter(project__slug=self.kwargs["slug"])

    def last_admin_problem(self, membership: Membership) -> str:
        """Removing oneself as the project's last administrator would leave nobody in the
        project able to manage it; refuse (organisation administrators can still do it)."""
        if membership.user_id != self.request.user.pk or membership.role != Role.ADMINISTRATOR:
            return ""
        others = Membership.objects.filter(project_id=membership.project_id, role=Role.ADMINISTRATOR).exclude(pk=membership.pk)
        if others.exists():
            return ""
        return ("You are the last administrator of this project. Make someone else an administrator first, "
                "so that the project still has someone to manage it.")

    def render_confirm(self, membership: Membership, error: str = "") -> HttpResponse:
        return render(self.request, "web/projects/confirm_remove.html",
                      {"membership": membership, "project": membership.project, "error": error, "section": self.section})

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = self.get_object()
        return self.render_confirm(membership, self.last_admin_problem(membership))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = self.get_object()
        problem = self.last_admin_problem(membership)
        if problem:
            return self.render_confirm(membership, problem)
        project, person = membership.project, membership.user
        services.remove_membership(membership)
        messages.success(request, f"{person} is no longer a member of {project}.")
        if person.pk == request.user.pk:
            return redirect("project-list")
        return redirect("project-detail", slug=project.slug)


class ProjectCreateView(FormPageMixin, View):
    model = Project
    section = "projects"
    page_title = "New project"
    submit_label = "Create project"

    def load(self) -> None:
        if not self.can("add"):
            raise PermissionDenied("Only administrators create projects.")

    def build_form(self, data: Any = None) -> ProjectForm:
        return ProjectForm(data)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("project-list")}

    def save(self, form: ProjectForm) -> Project:
        return services.create_project(form.cleaned_data, creator=self.request.user)

    def success(self, project: Project) -> HttpResponse:
        messages.success(self.request, f"Project “{project.slug}” created.")
        return redirect("project-detail", slug=project.slug)


class ServiceAccountMixin(SectionMixin, RestrictedViewMixin):
    """Service accounts are users of kind "service"; their permissions are named
    ``accounts.<action>_serviceaccount`` (as in the API), checked in the account's project."""

    queryset = User.objects.filter(kind=UserKind.SERVICE).select_related("owner", "service_project")
    section = "service_accounts"

    def perm(self, action: str) -> str:
        return f"accounts.{action}_serviceaccount"


class ServiceAccountListView(ServiceAccountMixin, ListView):
    template_name = "web/service_accounts/list.html"
    context_object_name = "accounts"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        now = timezone.now()
        usable = Q(api_tokens__revoked_at__isnull=True) & (Q(api_tokens__expires_at__isnull=True) | Q(api_tokens__expires_at__gt=now))
        return super().get_queryset().annotate(active_tokens=Count("api_tokens", filter=usable)).order_by("username")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["can_add"] = bool(projects_with_perm(self.request.user, self.perm("add")))
        return ctx


class ServiceAccountCreateView(ServiceAccountMixin, FormPageMixin, View):
    page_title = "New service account"
    submit_label = "Create service account"

    def load(self) -> None:
        if self.request.user.kind != UserKind.HUMAN:
            raise PermissionDenied("Only a person can own a service account.")
        if not projects_with_perm(self.request.user, self.perm("add")):
            raise PermissionDenied("Your role does not allow creating service accounts in any project.")

    def build_form(self, data: Any = None) -> ServiceAccountForm:
        return ServiceAccountForm(data, user=self.request.user)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("service-account-list")}

    def save(self, form: ServiceAccountForm) -> User:
        d = form.cleaned_data
        self.require("add", d["project"])
        return services.create_service_account(d["username"], owner=self.request.user, project=d["project"],
                                               description=d["description"], role=d["role"])

    def success(self, account: User) -> HttpResponse:
        messages.success(self.request, f"Service account “{account}” created. Issue it a token below.")
        return redirect("service-account-detail", pk=account.pk)


class ServiceAccountDetailView(ServiceAccountMixin, DetailView):
    template_name = "web/service_accounts/detail.html"
    context_object_name = "account"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        account: User = self.object
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            tokens=ApiToken.objects.restrict(self.request.user).filter(user=account).select_related("created_by"),
            can_manage=self.can("change", account),
            token_form=kwargs.get("token_form") or TokenForm(),
            role=Membership.objects.filter(user=account, project_id=account.service_project_id).first(),
        )
        return ctx


@method_decorator(never_cache, name="dispatch")
class TokenCreateView(ServiceAccountMixin, SingleObjectMixin, View):
    """Issue a token and show its raw value in this one response. It is never stored, put in
    the session or redirected through: reloading cannot show it again."""

    permission_action = "change"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect("service-account-detail", pk=kwargs["pk"])

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = self.object = self.get_object()
        form = TokenForm(request.POST)
        if form.is_valid():
            creator = request.user if request.user.kind == UserKind.HUMAN else None
            issued = run_service(form, lambda: services.issue_token(account, created_by=creator, **form.cleaned_data))
            if issued is not None:
                token, raw = issued
                return render(request, "web/service_accounts/token_created.html",
                              {"account": account, "token": token, "raw_token": raw, "section": self.section})
        detail = ServiceAccountDetailView(request=request, kwargs=kwargs, object=account)
        return render(request, detail.template_name, detail.get_context_data(object=account, token_form=form))


class TokenRevokeView(ServiceAccountMixin, SingleObjectMixin, View):
    permission_action = "change"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = self.get_object()
        token = ApiToken.objects.filter(user=account, pk=kwargs["token_id"]).first()
        if token is None:
            raise Http404("No such token on this account.")
        services.revoke_token(token)
        messages.success(request, f"Token “{token.name}” revoked; calls using it are refused from now on.")
        return redirect("service-account-detail", pk=account.pk)
