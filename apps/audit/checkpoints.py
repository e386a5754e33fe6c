"""Checkpoints: C2SP ``tlog-checkpoint`` bodies signed as C2SP ``signed-note`` s, and their
publication outside the database (``GOVHUB_CHECKPOINT_DIR``: ``<size>.checkpoint`` + ``latest``).

    govhub.local/ledger
    1234
    3q2+7w...base64 root...=

    — govhub.local/ledger AbCd...base64(key id || Ed25519 signature)...
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from tools.verify_export import SIG_PREFIX, key_hash, parse_checkpoint, split_note, verify_note

from .models import Checkpoint

log = logging.getLogger(__name__)

__all__ = ["body", "sign", "publish", "latest", "parse_checkpoint", "split_note", "verify_note"]


def body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign(text: str, name: str, key: Ed25519PrivateKey, public_key: bytes) -> str:
    """``text`` (ending in a newline) as a signed note with one Ed25519 signature."""
    signature = key.sign(text.encode())
    blob = base64.b64encode(key_hash(name, public_key) + signature).decode()
    return f"{text}\n{SIG_PREFIX}{name} {blob}\n"


def latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def publish(checkpoint: Checkpoint, directory: Path | None = None) -> Path | None:
    """Write ``<size>.checkpoint`` and replace ``latest`` (never moving ``latest`` backwards).
    Called after the checkpoint commits; a failure is logged, the next checkpoint retries."""
    directory = Path(directory or settings.GOVHUB_CHECKPOINT_DIR)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{checkpoint.tree_size}.checkpoint"
        if not path.exists():
            _write_atomically(path, checkpoint.note)
        current = directory / "latest"
        try:
            published = parse_checkpoint(split_note(current.read_text(encoding="utf-8"))[0])[1]
        except (OSError, ValueError):
            published = -1
        if checkpoint.tree_size > published:
            _write_atomically(current, checkpoint.note)
        return path
    except OSError as exc:
        log.warning("ledger: could not publish checkpoint %s to %s: %s", checkpoint.tree_size, directory, exc)
        return None
