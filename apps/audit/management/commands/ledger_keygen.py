"""Generate a new ledger signing key (rotation). The private key goes to a file (mode 600),
never to the database; the public key is printed and, with --register, registered now."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.audit import keys
from apps.core import context


class Command(BaseCommand):
    help = "Generate a new Ed25519 ledger signing key in a file (mode 600) and print its public key."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="where to write the private key (default var/keys/ledger-<key id>.key)")
        parser.add_argument("--register", action="store_true",
                            help="register the public key now and retire the current one (otherwise the first checkpoint signed with it does)")

    def handle(self, *args, **options):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        pub = keys.public_bytes(key)
        name = keys.key_name()
        key_id = keys.key_id_hex(name, pub)
        path = Path(options["out"] or Path(settings.GOVHUB_LEDGER_DEV_KEY_DIR) / f"ledger-{key_id}.key")
        try:
            keys.write_key_file(path, key)
        except FileExistsError:
            raise CommandError(f"{path} exists; refusing to overwrite a key")
        self.stdout.write(f"private key: {path} (mode 600; keep it out of backups of the database)")
        self.stdout.write(f"key id:      {key_id}")
        self.stdout.write(f"verifier key (publish it; witnesses and regulators pin it):\n  {keys.vkey(name, pub)}")
        self.stdout.write(keys.public_pem(pub).decode().rstrip())
        if options["register"]:
            with context.acting_as(context.Actor(user_id=None, label="cli:ledger_keygen", kind="system")), transaction.atomic():
                entry = keys.register(pub, name)
            self.stdout.write(f"registered {entry} valid from {entry.valid_from:%Y-%m-%d %H:%M:%S}; the previous key is retired")
        self.stdout.write(f"next: set GOVHUB_LEDGER_KEY_FILE={path} for the worker and restart it")
