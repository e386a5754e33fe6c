"""GDPR Art. 17: erase a person from the ledger's plain text without breaking any proof."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.audit.erasure import ErasureError, erase_subject
from apps.core import context


class Command(BaseCommand):
    help = "Destroy a user's pseudonym key and blank their personal data in audit events (proofs stay valid)."

    def add_arguments(self, parser):
        parser.add_argument("user_id", type=int)
        parser.add_argument("--reason", required=True, help="the erasure request reference (recorded)")

    def handle(self, *args, **options):
        with context.acting_as(context.Actor(user_id=None, label="cli:ledger_erase_subject", kind="system")):
            try:
                n = erase_subject(options["user_id"], reason=options["reason"])
            except ErasureError as exc:
                raise CommandError(str(exc))
        self.stdout.write(f"user {options['user_id']}: key destroyed, {n} audit events redacted; every leaf unchanged")
