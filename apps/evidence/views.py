"""The evidence page for compliance officers and auditors: the latest signed checkpoint, the
last verification of the whole ledger, export requests with live progress (htmx polling) and
permission-checked, audited downloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from apps import audit
from apps.audit import checkpoints
from apps.audit.models import VerificationRun
from apps.web.forms import apply_service_errors

from . import services
from .forms import ExportForm


class EvidenceMixin(LoginRequiredMixin):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not services.may_export(request.user):
            raise PermissionDenied("Evidence exports are for compliance officers, auditors and administrators.")
        return super().dispatch(request, *args, **kwargs)

    def get_export(self, pk):
        export = services.visible_exports(self.request.user).filter(pk=pk).first()
        if export is None:
            raise Http404("No such export.")
        return export


def _home(request: HttpRequest, form: ExportForm, status: int = 200) -> HttpResponse:
    runs = VerificationRun.objects.all()
    ctx = {
        "section": "evidence",
        "checkpoint": checkpoints.latest(),
        "verification": runs.filter(finished_at__isnull=False).first(),
        "verification_pending": runs.filter(finished_at__isnull=True, started_at__gte=timezone.now() - dt.timedelta(hours=1)).exists(),
        "form": form,
        "exports": services.visible_exports(request.user)[:20],
    }
    return render(request, "evidence/home.html", ctx, status=status)


class EvidenceHomeView(EvidenceMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return _home(request, ExportForm(user=request.user))


class ExportCreateView(EvidenceMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = ExportForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                export = services.request_export(request.user, since=data["since"], until=data.get("until"),
                                                 project=data.get("project"), asset=data.get("asset"))
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("evidence-export", pk=export.pk)
        return _home(request, form, status=400)


class ExportDetailView(EvidenceMixin, View):
    def get(self, request: HttpRequest, pk) -> HttpResponse:
        export = self.get_export(pk)
        template = "evidence/_progress.html" if getattr(request, "htmx", False) else "evidence/export.html"
        return render(request, template, {"export": export, "section": "evidence"})


class ExportDownloadView(EvidenceMixin, View):
    def get(self, request: HttpRequest, pk) -> HttpResponse:
        export = self.get_export(pk)
        try:
            path = services.record_download(export)
        except ValidationError:
            raise Http404("This export has no bundle to download.")
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name, content_type="application/zip")


class VerifyNowView(EvidenceMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        from apps.audit.tasks import verify

        with transaction.atomic():
            run = VerificationRun.objects.create(started_at=timezone.now(), trigger="ui")
            audit.record("audit.ledger.verify_request", run)
            transaction.on_commit(lambda: verify.delay(run.pk))
        messages.info(request, "Verification of the whole ledger started; the result appears here when it is done.")
        return redirect("evidence-home")
