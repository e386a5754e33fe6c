"""Recompute the whole Merkle tree from the audit tables and check it against every signed
checkpoint; name the first event that does not match. Exit status 1 on any mismatch."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.audit.models import VerificationRun
from apps.audit.tasks import record_result
from apps.audit.verify import verify_ledger
from apps.core import context


class Command(BaseCommand):
    help = "Verify the audit ledger: recompute every leaf and root from the tables (streaming)."

    def add_arguments(self, parser):
        parser.add_argument("--no-record", action="store_true", help="do not store the result for the evidence page")

    def handle(self, *args, **options):
        started = timezone.now()
        result = verify_ledger(progress=lambda n: self.stderr.write(f"  {n} events checked"))
        if not options["no_record"]:
            with context.acting_as(context.Actor(user_id=None, label="cli:audit_verify", kind="system")), transaction.atomic():
                run = VerificationRun.objects.create(
                    started_at=started, finished_at=timezone.now(), ok=result.ok, tree_size=result.tree_size,
                    events_checked=result.events, checkpoints_checked=result.checkpoints, message=result.message,
                    first_bad_event_id=result.first_bad_event_id, trigger="command",
                )
                record_result(run, result)
        if not result.ok:
            raise CommandError(f"audit ledger verification {result.message} (after {result.seconds:.1f} s)")
        self.stdout.write(f"{result.message} ({result.seconds:.1f} s)")
