from __future__ import annotations

import os
import secrets

from django.core.management.base import BaseCommand

from apps.accounts.models import User
from apps.core import context
from apps.core.demo import PEOPLE, load_demo


class Command(BaseCommand):
    help = "Load the demo scenario (idempotent: creates only what is missing)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=os.environ.get("GOVHUB_DEMO_PASSWORD", ""),
                            help="password for the demo people (default: random, printed once)")

    def handle(self, *args, **opts):
        new_people = not User.objects.filter(username__in=[p[0] for p in PEOPLE]).exists()
        password = opts["password"] or (secrets.token_urlsafe(9) if new_people else None)
        with context.acting_as(context.Actor(user_id=None, label="cli:load_demo", kind="system")):
            created = load_demo(password)
        summary = ", ".join(f"{v} {k}" for k, v in created.items() if v) or "nothing new"
        self.stdout.write(f"Demo data: {summary}.")
        if new_people and created["people"]:
            names = ", ".join(f"{p[0]} ({p[3] or next(iter(p[4].values()))})" for p in PEOPLE)
            self.stdout.write(self.style.SUCCESS(f"Demo people {names} share the password {password!r} (shown once)."))
