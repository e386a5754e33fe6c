"""Requesting, building and handing out regulator exports; every step is an audit event."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps import audit
from apps.audit.access import EXPORT_PERM
from apps.core import context
from apps.core.permissions import ALL, projects_with_perm

from . import scope as scopes
from .exports import bundle
from .models import Export, ExportState

log = logging.getLogger(__name__)


def exportable_projects(user: Any) -> str | set[int]:
    """``ALL`` or the projects where ``user`` may export evidence (None: a trusted command line)."""
    return ALL if user is None else projects_with_perm(user, EXPORT_PERM)


def may_export(user: Any) -> bool:
    allowed = exportable_projects(user)
    return allowed == ALL or bool(allowed)


def visible_exports(user: Any):
    """Exports a user may see and download: their own, and any in projects where they may export."""
    allowed = exportable_projects(user)
    qs = Export.objects.select_related("project", "asset", "requested_by")
    if allowed == ALL:
        return qs
    if not allowed:
        return qs.none()
    return qs.filter(Q(requested_by=user) | Q(project_id__in=allowed) | Q(asset__project_id__in=allowed))


def _export_project(export: Export) -> int | None:
    return export.project_id or (export.asset.project_id if export.asset_id else None)


def request_export(user: Any, *, since: dt.datetime, until: dt.datetime | None = None, project=None, asset=None,
                   pin_size: int | None = None, enqueue: bool = True) -> Export:
    """Validate and record an export request; the bundle is built by a Celery task after commit."""
    errors: dict[str, str] = {}
    now = timezone.now()
    if since >= now:
        errors["since"] = "The start of the range must be in the past."
    if until is not None and until <= since:
        errors["until"] = "The end of the range must be after its start."
    if project is not None and asset is not None and asset.project_id != project.pk:
        errors["asset"] = f"This asset belongs to project {asset.project}, not {project}."
    if pin_size is not None and pin_size < 1:
        errors["pin_size"] = "A pinned tree size is at least 1."
    if errors:
        raise ValidationError(errors)
    allowed = exportable_projects(user)
    if allowed != ALL:
        target = project.pk if project is not None else asset.project_id if asset is not None else None
        if target is None:
            raise PermissionDenied("Your role allows evidence exports for your projects only: choose a project or an asset.")
        if target not in allowed:
            raise PermissionDenied("Your role does not allow evidence exports for this project.")
    actor = context.current_actor()
    with transaction.atomic():
        label = context.Actor.for_user(user).label if getattr(user, "pk", None) else actor.label
        export = Export(requested_by=user if getattr(user, "pk", None) else None, requested_label=label,
                        since=since, until=until, project=project, asset=asset, pin_size=pin_size)
        export.full_clean()
        export.save()
        audit.record("evidence.export.request", export, project_id=_export_project(export),
                     after={"scope": export.scope_json(), "pin_size": pin_size})
        if enqueue:
            from .tasks import build_export

            transaction.on_commit(lambda: build_export.delay(str(export.pk)))
    return export


def _update(export_id, **fields) -> None:
    Export.objects.filter(pk=export_id).update(heartbeat_at=timezone.now(), **fields)


def run(export_id) -> Export | None:
    """Build the bundle of a pending export (idempotent: only a PENDING export is started)."""
    now = timezone.now()
    if Export.objects.filter(pk=export_id, state=ExportState.PENDING).update(state=ExportState.RUNNING, started_at=now,
                                                                            heartbeat_at=now, phase="starting") != 1:
        return None
    export = Export.objects.select_related("project", "asset", "requested_by").get(pk=export_id)
    allowed = exportable_projects(export.requested_by) if export.requested_by_id else ALL
    scope = scopes.resolve(since=export.since, until=export.until or now, project_id=export.project_id, asset_id=export.asset_id,
                           exportable=allowed)

    def set_phase(phase: str, total: int) -> None:
        _update(export_id, phase=phase, rows_total=total)

    def set_progress(done: int) -> None:
        _update(export_id, rows_done=done)

    try:
        built = bundle.build(export, scope, bundle.export_dir(), set_phase, set_progress)
    except Exception as exc:
        log.exception("evidence export %s failed", export_id)
        with transaction.atomic():
            if Export.objects.filter(pk=export_id, state=ExportState.RUNNING).update(
                    state=ExportState.FAILED, phase="failed", error=str(exc)[:2000], finished_at=timezone.now()) == 1:
                audit.record("evidence.export.fail", export, project_id=_export_project(export), extra={"error": str(exc)[:500]})
        export.refresh_from_db()
        return export
    with transaction.atomic():
        done = Export.objects.filter(pk=export_id, state=ExportState.RUNNING).update(
            state=ExportState.DONE, phase="done", finished_at=timezone.now(), rows_done=F("rows_total"),
            tree_size=built.tree_size, root_hash=built.root.hex(), events_in_scope=built.events, file_name=str(built.path),
            file_size=built.size, sha256=built.sha256, manifest_sha256=built.manifest_sha256, until=scope.until)
        if done == 1:
            # The bundle itself enters the ledger: its digest is now part of the signed history.
            audit.record("evidence.export.complete", export, project_id=_export_project(export), after={
                "sha256": built.sha256, "size": built.size, "manifest_sha256": built.manifest_sha256,
                "tree_size": built.tree_size, "root_hash": built.root.hex(), "events": built.events})
    export.refresh_from_db()
    return export


def record_download(export: Export) -> Path:
    """Audit a download (in its own transaction) and return the file to send."""
    path = Path(export.file_name)
    if export.state == ExportState.EXPIRED:
        raise ValidationError(f"This bundle was deleted after {settings.GOVHUB_EXPORT_RETENTION_DAYS} days (retention); "
                              "request the export again.")
    if export.state != ExportState.DONE or not path.exists():
        raise ValidationError("This export has no bundle to download.")
    with transaction.atomic():
        audit.record("evidence.export.download", export, project_id=_export_project(export), extra={"sha256": export.sha256})
    return path


# --- housekeeping (the ``evidence.housekeeping`` beat) ------------------------------------------


def reap_exports(now: dt.datetime | None = None) -> dict[str, int]:
    """Exports a dead worker left behind, queue messages that were lost, and bundles past their
    retention. Each change is a compare-and-swap with its audit event; returns what was done."""
    from .tasks import build_export

    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.GOVHUB_EXPORT_STALE_SECONDS)
    done = {"failed": 0, "requeued": 0, "expired": 0}
    # A build shows progress at least once a phase; none for this long means its worker is gone. It
    # is not resumed (a half-written bundle is discarded), the requester asks again.
    silent = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale)  # (builds from before heartbeats)
    for export in Export.objects.filter(silent, state=ExportState.RUNNING):
        last = export.heartbeat_at or export.started_at
        reason = f"The worker building this export stopped (no progress since {last:%Y-%m-%d %H:%M:%S} UTC); request the export again."
        with transaction.atomic():
            if Export.objects.filter(pk=export.pk, state=ExportState.RUNNING, heartbeat_at=export.heartbeat_at).update(
                    state=ExportState.FAILED, phase="failed", error=reason, finished_at=now) == 1:
                audit.record("evidence.export.fail", export, project_id=_export_project(export), extra={"error": reason})
                done["failed"] += 1
        _discard_partial(export)
    # Still queued long after it was requested: the message was lost (broker restart). Starting is
    # a compare-and-swap on PENDING, so a duplicate message does nothing.
    for export_id in Export.objects.filter(state=ExportState.PENDING, requested_at__lt=stale).values_list("pk", flat=True):
        build_export.delay(str(export_id))
        done["requeued"] += 1
    retention = settings.GOVHUB_EXPORT_RETENTION_DAYS
    if retention:
        cutoff = now - dt.timedelta(days=retention)
        for export in Export.objects.filter(state=ExportState.DONE, finished_at__lt=cutoff):
            with transaction.atomic():
                if Export.objects.filter(pk=export.pk, state=ExportState.DONE).update(state=ExportState.EXPIRED,
                                                                                      phase="expired") == 1:
                    audit.record("evidence.export.expire", export, project_id=_export_project(export),
                                 extra={"sha256": export.sha256, "retention_days": retention})
                    transaction.on_commit(lambda path=export.file_name: Path(path).unlink(missing_ok=True))
                    done["expired"] += 1
    return done


def _discard_partial(export: Export) -> None:
    """Remove what a dead build may have left in the export directory (its temporary files)."""
    for leftover in bundle.export_dir().glob(f"govhub-evidence-{str(export.pk)[:8]}-*.zip.part"):
        leftover.unlink(missing_ok=True)
