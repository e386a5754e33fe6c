"""Build a regulator bundle (a zip) for an ``Export``:

    manifest.json + manifest.json.sig   scope, requester, tree size, root, key ids, SHA-256 of every file
    checkpoint                          the C2SP signed note the bundle is anchored to
    events.jsonl / omitted.txt          the covered log range (leaves in scope, hashes of the rest)
    proofs/range.json                   the subtrees that complete the range to the signed root
    proofs/inclusion.json               RFC 6962 audit paths for (a sample of) the events
    proofs/consistency.json             earlier signed checkpoints are prefixes of this tree
    keys/<id>.pem, keys/keys.json       every ledger public key, with validity periods
    ropa.json, ropa.csv                 GDPR Art. 30 record of processing
    annex_iv.json                       EU AI Act Annex IV 2(d) / Art. 10(2) provenance per model
    report.html, VERIFY.md, verify_export.py
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone

from apps.audit import canonical, checkpoints, keys, sequencer, tree
from apps.audit.models import Checkpoint, SigningKey
from tools import verify_export as verifier

from ..scope import Scope
from . import annex_iv, events, ropa
from .events import ExportError
from .writer import ZipBundle, file_sha256

VERIFIER_PATH = Path(verifier.__file__)
RECENT_EXPORT_PINS = 3


@dataclass
class Built:
    path: Path
    size: int
    sha256: str
    manifest_sha256: str
    tree_size: int
    root: bytes
    events: int


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _sequence_now(deadline: float = 30.0) -> None:
    """Bring the tree up to date before anchoring the bundle (waits for a running sequencer)."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        batch = sequencer.sequence_batch()
        if batch is not None and not batch.more:
            return
        if batch is None:
            time.sleep(0.2)


def _consistency_sizes(scope_start: int, tree_size: int, pin_size: int | None, export_id) -> list[int]:
    from ..models import Export, ExportState

    sizes: set[int] = set()
    first = Checkpoint.objects.filter(tree_size__gt=scope_start, tree_size__lt=tree_size).order_by("tree_size").first()
    if first:
        sizes.add(first.tree_size)
    earlier = (Export.objects.filter(state=ExportState.DONE, tree_size__lt=tree_size).exclude(pk=export_id)
               .order_by("-finished_at").values_list("tree_size", flat=True)[:RECENT_EXPORT_PINS])
    sizes.update(s for s in earlier if s)
    if pin_size:
        if not Checkpoint.objects.filter(tree_size=pin_size).exists() or pin_size > tree_size:
            raise ExportError(f"no signed checkpoint of size {pin_size} at or before the export's tree ({tree_size})")
        if pin_size < tree_size:
            sizes.add(pin_size)
    return sorted(sizes)


def _event_summary(scope: Scope, tree_size: int) -> list[tuple[str, int]]:
    cond, params = scope.sql("e")
    with connection.cursor() as cur:
        cur.execute(f"SELECT e.action, count(*) FROM audit_auditevent e JOIN audit_logentry l ON l.event_id = e.id"  # noqa: S608
                    f" WHERE l.log_index < %(tree_size)s AND {cond} GROUP BY e.action ORDER BY 2 DESC, 1", {**params, "tree_size": tree_size})
        return cur.fetchall()


def build(export, scope: Scope, out_dir: Path, set_phase: Callable[[str, int], None],
          set_progress: Callable[[int], None]) -> Built:
    set_phase("sequencing", 0)
    _sequence_now()
    cp = checkpoints.latest()
    if cp is None:
        raise ExportError("the ledger has no signed checkpoint yet: nothing can be exported")
    n = cp.tree_size
    start, end, in_scope = events.plan(scope, n)
    set_phase("events", end - start)

    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"govhub-evidence-{str(export.pk)[:8]}-{n}.zip"
    partial = final.with_suffix(".zip.part")
    bundle = ZipBundle(partial)
    try:
        rng = events.write(bundle, scope, start, end, n, in_scope, set_progress)
        if rng.root != bytes(cp.root_hash):
            raise ExportError(f"the recomputed root of tree {n} differs from its signed checkpoint (run manage.py audit_verify)")
        set_phase("proofs", end - start)
        bundle.add_bytes("checkpoint", cp.note.encode())
        bundle.add_bytes("proofs/range.json", _json({"tree_size": n, "start": start, "end": end,
                                                      "left": [h.hex() for h in rng.left], "right": [h.hex() for h in rng.right]}))
        inclusion = [{"log_index": i, "event_id": eid, "leaf_hash": leaf.hex(), "path": [h.hex() for h in tree.inclusion_proof(i, n)]}
                     for i, eid, leaf in rng.samples]
        bundle.add_bytes("proofs/inclusion.json", _json({"tree_size": n, "proofs": inclusion}))
        consistency = []
        for m in _consistency_sizes(start, n, export.pin_size, export.pk):
            old = Checkpoint.objects.get(tree_size=m)
            consistency.append({"first": m, "second": n, "first_checkpoint": old.note,
                                "path": [h.hex() for h in tree.consistency_proof(m, n)]})
        bundle.add_bytes("proofs/consistency.json", _json({"proofs": consistency}))

        set_phase("documents", end - start)
        registry = [keys.registry_entry(k) for k in SigningKey.objects.order_by("valid_from")]
        for k in SigningKey.objects.all():
            bundle.add_bytes(f"keys/{k.key_id}.pem", keys.public_pem(k.raw_public_key))
        bundle.add_bytes("keys/keys.json", _json(registry))
        assets = list(scope.assets())
        ropa_doc = ropa.build(assets)
        bundle.add_bytes("ropa.json", _json(ropa_doc))
        bundle.add_bytes("ropa.csv", ropa.to_csv(ropa_doc))
        models = annex_iv.build(assets)
        bundle.add_bytes("annex_iv.json", _json({"regulation": "EU AI Act Annex IV 2(d), Art. 10(2)", "models": models}))
        bundle.add_bytes("verify_export.py", VERIFIER_PATH.read_bytes())

        private, signer = keys.active()
        now = timezone.now()
        facts = {
            "export_id": str(export.pk), "created_at": _iso(now), "origin": cp.origin, "tree_size": n,
            "root_b64": checkpoints.body(cp.origin, n, bytes(cp.root_hash)).split("\n")[2], "root_hex": bytes(cp.root_hash).hex(),
            "checkpoint_key": cp.key.key_id, "signing_key": signer.key_id, "start": start, "end": end,
            "events": rng.events, "omitted": rng.omitted, "scope": scope.as_json(), "requested_by": export.requested_label,
            "inclusion": len(inclusion), "consistency": [c["first"] for c in consistency], "keys": registry,
        }
        ctx = {**facts, "summary": _event_summary(scope, n), "ropa": ropa_doc, "models": models, "first_time": rng.first_time,
               "last_time": rng.last_time}
        bundle.add_bytes("report.html", render_to_string("evidence/bundle/report.html", ctx).encode())
        bundle.add_bytes("VERIFY.md", render_to_string("evidence/bundle/VERIFY.md", ctx).encode())

        manifest = {
            "format": verifier.FORMAT,
            "export_id": str(export.pk),
            "created_at": _iso(now),
            "requested_by": {"id": export.requested_by_id, "label": export.requested_label,
                             "requested_at": _iso(export.requested_at)},
            "scope": scope.as_json(),
            "log": {"origin": cp.origin, "tree_size": n, "root_hash": facts["root_b64"], "checkpoint_key_ids": [cp.key.key_id]},
            "range": {"start": start, "end": end, "events": rng.events, "omitted": rng.omitted},
            "signing_key": {"key_id": signer.key_id, "name": signer.name},
            "key_ids": [k["key_id"] for k in registry],
            "files": dict(sorted(bundle.files.items())),
        }
        manifest_bytes = canonical.dumps(manifest)
        bundle.add_bytes("manifest.json", manifest_bytes, listed=False)
        bundle.add_bytes("manifest.json.sig", private.sign(manifest_bytes), listed=False)
        bundle.close()
    except BaseException:
        bundle.close()
        partial.unlink(missing_ok=True)
        raise
    partial.replace(final)
    return Built(final, final.stat().st_size, file_sha256(final), hashlib.sha256(manifest_bytes).hexdigest(), n,
                 bytes(cp.root_hash), rng.events)


def _json(value) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode() + b"\n"


def export_dir() -> Path:
    return Path(settings.GOVHUB_EXPORT_DIR)
