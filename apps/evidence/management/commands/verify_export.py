"""Verify an evidence bundle from inside govhub: the same code as tools/verify_export.py, with
the keys of govhub's own registry pinned (so a re-signed bundle fails)."""

from __future__ import annotations

import zipfile

from django.core.management.base import BaseCommand, CommandError

from apps.audit.models import SigningKey
from tools import verify_export as verifier


class Command(BaseCommand):
    help = "Verify an evidence bundle offline (manifest, digests, checkpoint, root, proofs)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--bundle-keys", action="store_true", help="trust the keys inside the bundle instead of govhub's registry")
        parser.add_argument("--pin", help="a checkpoint file the bundle must extend")

    def handle(self, *args, **options):
        pins = [] if options["bundle_keys"] else [k.raw_public_key for k in SigningKey.objects.all()]
        pinned = open(options["pin"], encoding="utf-8").read() if options["pin"] else None
        try:
            summary = verifier.verify_bundle(options["path"], pinned_keys=pins, pinned_checkpoint=pinned,
                                             log=lambda m: self.stdout.write(m))
        except verifier.VerificationError as exc:
            raise CommandError(f"FAIL {exc.step}: {exc.message}")
        except (OSError, zipfile.BadZipFile) as exc:
            raise CommandError(f"cannot read {options['path']}: {exc}")
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise CommandError(f"FAIL the bundle is malformed: {type(exc).__name__}: {exc}")
        self.stdout.write(summary)
