"""Building blocks shared by the UI views: filtered+paginated lists with an htmx partial, and
running a service call with its errors shown on the form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.cache import patch_vary_headers
from django.views.generic import TemplateView
from django_htmx.http import HttpResponseClientRedirect

from apps.audit.models import AuditEvent
from apps.core.mixins import RestrictedViewMixin
from apps.core.services import PreconditionFailed

from ..forms import apply_service_errors

T = TypeVar("T")

PAGE_SIZE = 25
CHANGED_BY_SOMEONE_ELSE = (
    "This record was changed by someone else since you opened it. Reload the page to see the "
    "current values, then make your change again."
)


def run_service(form: forms.Form, call: Callable[[], T]) -> T | None:
    """Call a service; on a ValidationError or a stale version, put the message on the form and
    return None so the view re-renders it (never a 500). Services own their transactions."""
    try:
        return call()
    except ValidationError as exc:
        apply_service_errors(form, exc)
    except PreconditionFailed:
        form.add_error(None, CHANGED_BY_SOMEONE_ELSE)
    return None


def visible_audit_events(user: Any):
    """The audit events ``user`` may read (org-wide roles: all; members: their projects')."""
    return AuditEvent.objects.restrict(user, "view")


def is_partial(request: HttpRequest) -> bool:
    """An htmx swap wants the fragment; a history restore (back button, cache miss) needs the
    whole page, as does any request without JavaScript."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


class SectionMixin:
    """Marks the nav entry of the page (``aria-current``)."""

    section: str = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)  # type: ignore[misc]
        ctx.setdefault("section", self.section)
        return ctx


class FilteredListView(SectionMixin, RestrictedViewMixin, TemplateView):
    """A list restricted by role and project, filtered by the model's one FilterSet, paginated
    25 a page. With ``HX-Request`` only the results fragment is rendered (live search)."""

    filterset_class: Any = None
    partial_template_name: str = ""
    filter_fields: tuple[str, ...] = ()
    # Human labels: method-based filters have no model field to take one from.
    filter_labels: dict[str, str] = {}
    page_size = PAGE_SIZE

    def optimize(self, qs):
        return qs

    def handle_no_permission(self):
        # A live search after the session expired: send the whole page to the login form
        # instead of swapping the login page into the results table.
        if is_partial(self.request) and not self.request.user.is_authenticated:
            query = urlencode({"next": self.request.get_full_path()})
            return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?{query}")
        return super().handle_no_permission()

    def customize_filter_form(self, form: forms.Form) -> None:
        """Hook: swap text inputs for selects of what the user may choose from."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        filterset = self.filterset_class(request.GET or None, queryset=self.optimize(self.get_queryset()), request=request)
        self.customize_filter_form(filterset.form)
        for name, label in self.filter_labels.items():
            if name in filterset.form.fields:
                filterset.form.fields[name].label = label
        page = Paginator(filterset.qs, self.page_size).get_page(request.GET.get("page"))
        ctx = self.get_context_data(filterset=filterset, filter_form=filterset.form, page_obj=page,
                                    filter_fields=[filterset.form[name] for name in self.filter_fields],
                                    is_filtered=any(v for k, v in request.GET.items() if k != "page"))
        template = self.partial_template_name if is_partial(request) else self.template_name
        response = render(request, template, ctx)
        patch_vary_headers(response, ["HX-Request"])
        return response


def select_widget(form: forms.Form, name: str, choices: list[tuple[str, str]], empty: str = "Any") -> None:
    """Show a text filter as a select of known values (the filter still accepts the text)."""
    if name in form.fields:
        form.fields[name].widget = forms.Select(choices=[("", empty), *choices])


class FormPageMixin(SectionMixin, RestrictedViewMixin):
    """GET shows a form, POST validates it and hands the cleaned data to a service. Subclasses
    implement ``build_form`` and ``save`` (the service call) and ``success``."""

    template_name = "web/form.html"
    page_title = ""
    submit_label = "Save"

    def build_form(self, data: Any = None) -> forms.Form:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, form: forms.Form) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def success(self, result: Any) -> HttpResponse:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self) -> None:
        """Hook: fetch and permission-check the object (edit views) before anything else."""

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {}

    def render_form(self, form: forms.Form) -> HttpResponse:
        ctx = {"form": form, "page_title": self.page_title, "submit_label": self.submit_label,
               "section": self.section, "object": getattr(self, "object", None), **self.form_context(form)}
        return render(self.request, self.template_name, ctx)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        return self.render_form(self.build_form())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.load()
        form = self.build_form(request.POST)
        if form.is_valid():
            result = run_service(form, lambda: self.save(form))
            if result is not None:
                return self.success(result)
        return self.render_form(form)
