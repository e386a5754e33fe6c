"""Create the first administrator if there is none, printing its password once."""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand

from apps.accounts import services
from apps.accounts.models import User
from apps.core import context


class Command(BaseCommand):
    help = "Create user 'admin' (superuser) with a random password, printed once, unless an administrator exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", help="also write the password to this file (mode 600)")

    def handle(self, *args, **opts):
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator already exists; its password was printed when it was created.")
            return
        password = secrets.token_urlsafe(12)
        with context.acting_as(context.Actor(user_id=None, label="cli:ensure_admin", kind="system")):
            from django.db import transaction

            with transaction.atomic():
                services.create_person(opts["username"], password=password, is_superuser=True, org_role="administrator")
        if opts.get("password_file"):
            import os

            fd = os.open(opts["password_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
        self.stdout.write(self.style.SUCCESS(f"Administrator created: username {opts['username']!r}, password {password!r} (shown once)."))
