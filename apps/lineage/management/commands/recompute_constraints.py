"""Recompute every asset's effective constraints (or some: --asset 12 --asset 13, with everything
downstream of them)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from apps.core import context
from apps.lineage import constraints


class Command(BaseCommand):
    help = "Recompute the materialized effective constraints of all assets (or of --asset ids and their downstream)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--asset", type=int, action="append", default=[], help="Only this asset and what derives from it.")

    def handle(self, *args, asset: list[int], **options) -> None:
        started = time.monotonic()
        with context.acting_as(context.Actor(user_id=None, label="cli:recompute_constraints", kind="system")):
            stored = constraints.recompute_downstream(asset) if asset else constraints.recompute_all()
        self.stdout.write(f"Recomputed the constraints of {stored} asset(s) in {time.monotonic() - started:.1f} s.")
