"""Build an evidence bundle synchronously from the command line (the same code as the task)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.accounts.models import Project
from apps.catalog.models import Asset
from apps.core import context
from apps.evidence import services
from apps.evidence.models import ExportState


def _when(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)):
        parsed = dt.datetime.combine(day, dt.time.min)
    if parsed is None:
        raise CommandError(f"--{name}: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


class Command(BaseCommand):
    help = "Export signed, offline-verifiable audit evidence for a time range (and a project or an asset)."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="start of the range (YYYY-MM-DD or ISO 8601, UTC if no zone)")
        parser.add_argument("--until", help="end of the range, exclusive (default: now)")
        parser.add_argument("--project", help="project slug or id")
        parser.add_argument("--asset", type=int, help="asset id: that asset and everything upstream of it")
        parser.add_argument("--pin", type=int, dest="pin_size", help="a tree size the recipient pinned: include a consistency proof from it")
        parser.add_argument("--out", required=True, help="where to write the .zip")

    def handle(self, *args, **options):
        project = None
        if options["project"]:
            value = options["project"]
            project = Project.objects.filter(pk=int(value)).first() if value.isdigit() else Project.objects.filter(slug=value).first()
            if project is None:
                raise CommandError(f"--project: no project {value!r}")
        asset = None
        if options["asset"] is not None:
            asset = Asset.objects.filter(pk=options["asset"]).first()
            if asset is None:
                raise CommandError(f"--asset: no asset {options['asset']}")
        with context.acting_as(context.Actor(user_id=None, label="cli:export_audit", kind="system")):
            try:
                export = services.request_export(None, since=_when(options["since"], "since"), until=_when(options["until"], "until"),
                                                 project=project, asset=asset, pin_size=options["pin_size"], enqueue=False)
            except ValidationError as exc:
                raise CommandError("; ".join(f"--{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
            export = services.run(export.pk)
        if export.state != ExportState.DONE:
            raise CommandError(f"export failed: {export.error}")
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export.file_name, out)
        self.stdout.write(f"wrote {out} ({export.file_size} bytes, SHA-256 {export.sha256}): {export.events_in_scope} events, "
                          f"tree size {export.tree_size}")
