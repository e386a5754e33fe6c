"""Ledger signing keys: Ed25519, private half outside the database, public half in ``SigningKey``.

Where the private key comes from, first match wins:

1. ``GOVHUB_LEDGER_KEY`` (environment): PEM (PKCS#8) text, or the 32-byte seed in base64;
2. ``GOVHUB_LEDGER_KEY_FILE`` (setting / environment): a file holding either of those;
3. development and test only: ``var/keys/ledger-<env>.key``, generated (mode 600) on first use,
   with a warning in the log. Production refuses to sign without 1 or 2.

Rotation: ``manage.py ledger_keygen`` writes a new key file; point GOVHUB_LEDGER_KEY_FILE at it and
restart the worker. The first checkpoint signed with a key registers its public half (valid from
now) and retires the previous key (valid until now); retired keys stay in the registry, in
``/api/v1/ledger/keys`` and in every bundle, so old checkpoints keep verifying. A process still
holding a retired key refuses to sign rather than flip the active key back.
"""

from __future__ import annotations

import base64
import logging
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from tools.verify_export import key_hash, vkey

from .models import SigningKey

log = logging.getLogger(__name__)

REGISTRY_LOCK = 0x676F7668_0002  # pg advisory lock: one key registration at a time


class KeyRetired(RuntimeError):
    """The configured private key was retired by a rotation; this process must not sign."""


def parse_private_key(data: bytes) -> Ed25519PrivateKey:
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(text, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("the ledger key must be an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except ValueError:
        raise ImproperlyConfigured("the ledger key is neither PEM nor a base64 Ed25519 seed")
    if len(seed) != 32:
        raise ImproperlyConfigured(f"a base64 Ed25519 seed is 32 bytes, this one is {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_pem(public_key: bytes) -> bytes:
    return Ed25519PublicKey.from_public_bytes(public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def write_key_file(path: Path, key: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """Create ``path`` (mode 600, never overwriting) holding a new or given key in PEM."""
    key = key or Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem(key))
    return key


def _dev_key_path() -> Path:
    return Path(settings.GOVHUB_LEDGER_DEV_KEY_DIR) / f"ledger-{settings.GOVHUB_ENV}.key"


@lru_cache(maxsize=4)
def _load(env_value: str, file_value: str, dev_path: str, environment: str) -> Ed25519PrivateKey:
    if env_value:
        return parse_private_key(env_value.encode())
    if file_value:
        try:
            return parse_private_key(Path(file_value).read_bytes())
        except OSError as exc:
            raise ImproperlyConfigured(f"GOVHUB_LEDGER_KEY_FILE={file_value}: {exc.strerror}")
    if environment == "production":
        raise ImproperlyConfigured("GOVHUB_ENV=production needs GOVHUB_LEDGER_KEY_FILE or GOVHUB_LEDGER_KEY to sign ledger checkpoints")
    path = Path(dev_path)
    try:
        return parse_private_key(path.read_bytes())
    except FileNotFoundError:
        pass
    try:
        key = write_key_file(path)
        log.warning("ledger: no GOVHUB_LEDGER_KEY_FILE or GOVHUB_LEDGER_KEY set; generated a %s signing key at %s (mode 600). "
                    "Do not use it in production.", environment, path)
        return key
    except FileExistsError:  # another process generated it first
        return parse_private_key(path.read_bytes())


def private_key() -> Ed25519PrivateKey:
    return _load(os.environ.get("GOVHUB_LEDGER_KEY", ""), settings.GOVHUB_LEDGER_KEY_FILE, str(_dev_key_path()), settings.GOVHUB_ENV)


def key_name() -> str:
    return settings.GOVHUB_LEDGER_ORIGIN


def key_id_hex(name: str, public_key: bytes) -> str:
    return key_hash(name, public_key).hex()


def verifier_key(entry: SigningKey) -> str:
    return vkey(entry.name, entry.raw_public_key)


def register(public_key: bytes, name: str | None = None, *, retire_others: bool = True) -> SigningKey:
    """Add a public key to the registry, valid from now, retiring the open ones (audited)."""
    from apps import audit

    name = name or key_name()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRY_LOCK])
        existing = SigningKey.objects.filter(fingerprint=SigningKey.fingerprint_of(public_key)).first()
        if existing is not None:
            return existing
        now = timezone.now()
        if retire_others:
            for old in SigningKey.objects.filter(valid_until__isnull=True).select_for_update():
                old.valid_until = now
                old.save(update_fields=["valid_until"])
                audit.record("audit.signingkey.retire", old, before={"valid_until": None}, after={"valid_until": now})
        entry = SigningKey.objects.create(key_id=key_id_hex(name, public_key), name=name, public_key=public_key,
                                          fingerprint=SigningKey.fingerprint_of(public_key), valid_from=now)
        audit.record("audit.signingkey.register", entry,
                     after={"key_id": entry.key_id, "name": name, "fingerprint": entry.fingerprint, "valid_from": now})
        log.info("ledger: registered signing key %s+%s", name, entry.key_id)
        return entry


def active() -> tuple[Ed25519PrivateKey, SigningKey]:
    """The private key to sign with and its registry entry (registered on first use)."""
    key = private_key()
    pub = public_bytes(key)
    entry = SigningKey.objects.filter(fingerprint=SigningKey.fingerprint_of(pub)).first()
    if entry is None:
        entry = register(pub)
    elif entry.valid_until is not None and entry.valid_until <= timezone.now():
        raise KeyRetired(f"the configured ledger key {entry} was retired at {entry.valid_until:%Y-%m-%d %H:%M:%S}; "
                         "configure the current key (GOVHUB_LEDGER_KEY_FILE) and restart")
    return key, entry


def keyring() -> dict[bytes, tuple[str, bytes]]:
    """Every registered key, as the offline verifier wants them: {key id: (name, public key)}."""
    return {bytes.fromhex(k.key_id): (k.name, k.raw_public_key) for k in SigningKey.objects.all()}


def registry_entry(entry: SigningKey) -> dict:
    return {
        "key_id": entry.key_id,
        "name": entry.name,
        "algorithm": "ed25519",
        "public_key": base64.b64encode(entry.raw_public_key).decode(),
        "vkey": verifier_key(entry),
        "fingerprint": entry.fingerprint,
        "valid_from": entry.valid_from.isoformat().replace("+00:00", "Z"),
        "valid_until": entry.valid_until.isoformat().replace("+00:00", "Z") if entry.valid_until else None,
    }
