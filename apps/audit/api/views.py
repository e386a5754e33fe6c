"""The ledger API: the latest (or a given) signed checkpoint, the signing keys, inclusion proofs
and consistency proofs. Hashes are lowercase hex; checkpoint roots also appear base64 inside the
signed note, exactly as published."""

from __future__ import annotations

import base64

from django.db import connection
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .. import keys, tree
from ..access import can_read_ledger, may_see_event
from ..leaf import SELECT_COLUMNS, leaf_bytes
from ..models import AuditEvent, Checkpoint, LogEntry, SigningKey
from .serializers import CheckpointSerializer, ConsistencyProofSerializer, InclusionProofSerializer, KeysSerializer


def _int_param(request: Request, name: str, *, required: bool, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if required:
            raise exceptions.ValidationError({name: ["This parameter is required."]})
        return None
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: [f"A whole number is required, not {raw[:40]!r}."]})
    if value < minimum:
        raise exceptions.ValidationError({name: [f"Must be at least {minimum}."]})
    return value


def _latest() -> Checkpoint:
    latest = Checkpoint.objects.select_related("key").order_by("-tree_size").first()
    if latest is None:
        raise exceptions.NotFound("The ledger has no signed checkpoint yet.")
    return latest


def _checkpoint_of_size(name: str, size: int | None) -> Checkpoint:
    if size is None:
        return _latest()
    found = Checkpoint.objects.select_related("key").filter(tree_size=size).first()
    if found is None:
        latest = _latest()
        raise exceptions.ValidationError({name: [
            f"No signed checkpoint has tree size {size}; use a size from /api/v1/ledger/checkpoint (the latest is {latest.tree_size})."]})
    return found


def checkpoint_json(cp: Checkpoint) -> dict:
    return {
        "origin": cp.origin,
        "tree_size": cp.tree_size,
        "root_hash": bytes(cp.root_hash).hex(),
        "root_hash_base64": base64.b64encode(bytes(cp.root_hash)).decode(),
        "key_id": cp.key.key_id,
        "created_at": cp.created_at,
        "note": cp.note,
    }


class LedgerViewSet(viewsets.ViewSet):
    """Read-only; ``audit.view_ledger`` in at least one project (or org-wide) is required."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not can_read_ledger(request.user):
            raise exceptions.PermissionDenied("Your role does not allow reading the audit ledger.")

    @extend_schema(parameters=[OpenApiParameter("tree_size", int, required=False)], responses=CheckpointSerializer)
    @action(detail=False, methods=["get"], url_path="checkpoint")
    def checkpoint(self, request: Request) -> Response:
        """The latest signed checkpoint, or the one of ``tree_size``."""
        cp = _checkpoint_of_size("tree_size", _int_param(request, "tree_size", required=False, minimum=1))
        return Response(checkpoint_json(cp))

    @extend_schema(responses=KeysSerializer)
    @action(detail=False, methods=["get"], url_path="keys")
    def keys(self, request: Request) -> Response:
        """Every signing key, current and retired, with its validity period."""
        entries = []
        for entry in SigningKey.objects.order_by("valid_from"):
            entries.append({**keys.registry_entry(entry), "pem": keys.public_pem(entry.raw_public_key).decode()})
        return Response({"origin": keys.key_name(), "keys": entries})

    @extend_schema(parameters=[OpenApiParameter("event_id", int, required=True), OpenApiParameter("tree_size", int, required=False)],
                   responses=InclusionProofSerializer)
    @action(detail=False, methods=["get"], url_path="proofs/inclusion")
    def inclusion(self, request: Request) -> Response:
        """RFC 6962 audit path of one event in a signed tree (the latest unless ``tree_size``)."""
        event_id = _int_param(request, "event_id", required=True, minimum=1)
        tree_size = _int_param(request, "tree_size", required=False, minimum=1)
        found = AuditEvent.objects.filter(pk=event_id).values_list("project_id").first()
        if found is None or not may_see_event(request.user, found[0]):
            raise exceptions.NotFound(f"There is no audit event {event_id} that you may see.")
        entry = LogEntry.objects.filter(event_id=event_id).first()
        if entry is None:
            raise exceptions.NotFound(f"Audit event {event_id} is not in the log yet; events are sequenced within seconds, retry shortly.")
        cp = _checkpoint_of_size("tree_size", tree_size)
        if entry.log_index >= cp.tree_size:
            raise exceptions.ValidationError({"tree_size": [
                f"Audit event {event_id} has log index {entry.log_index}; a tree of size {cp.tree_size} does not contain it."]})
        with connection.cursor() as cur:
            cur.execute(f"SELECT {SELECT_COLUMNS} FROM audit_auditevent e WHERE e.id = %s", [event_id])  # noqa: S608 (constant columns)
            leaf = leaf_bytes(cur.fetchone(), entry.log_index)
        return Response({
            "event_id": event_id,
            "log_index": entry.log_index,
            "tree_size": cp.tree_size,
            "leaf_hash": bytes(entry.leaf_hash).hex(),
            "leaf": leaf.decode(),
            "inclusion_path": [h.hex() for h in tree.inclusion_proof(entry.log_index, cp.tree_size)],
            "checkpoint": cp.note,
        })

    @extend_schema(parameters=[OpenApiParameter("first", int, required=True), OpenApiParameter("second", int, required=False)],
                   responses=ConsistencyProofSerializer)
    @action(detail=False, methods=["get"], url_path="proofs/consistency")
    def consistency(self, request: Request) -> Response:
        """RFC 6962 consistency proof: the tree of ``second`` (default: latest) extends ``first``."""
        first = _int_param(request, "first", required=True, minimum=1)
        second = _int_param(request, "second", required=False, minimum=1)
        if second is not None and first > second:
            raise exceptions.ValidationError({"first": [f"first ({first}) must not be larger than second ({second})."]})
        new = _checkpoint_of_size("second", second)
        if first > new.tree_size:
            raise exceptions.ValidationError({"first": [f"first ({first}) is larger than the latest tree ({new.tree_size})."]})
        old = _checkpoint_of_size("first", first)
        return Response({
            "first": old.tree_size,
            "second": new.tree_size,
            "consistency_path": [h.hex() for h in tree.consistency_proof(old.tree_size, new.tree_size)],
            "first_checkpoint": old.note,
            "second_checkpoint": new.note,
        })
