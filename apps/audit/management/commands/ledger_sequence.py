"""Sequence committed audit events into the tree now (what the beat task does every 0.5 s)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.audit import checkpoints, sequencer
from apps.core import context


class Command(BaseCommand):
    help = "Sequence pending audit events and sign a checkpoint (normally done by Celery beat)."

    def handle(self, *args, **options):
        with context.acting_as(context.Actor(user_id=None, label="cli:ledger_sequence", kind="system")):
            added = sequencer.sequence()
        latest = checkpoints.latest()
        self.stdout.write(f"sequenced {added} events; tree size {latest.tree_size if latest else 0}")
