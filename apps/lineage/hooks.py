"""How lineage hears about catalog changes: consent withdrawal and expiry through the catalog's
``CONSENT_CHANGE_HOOKS``; asset and consent edits, training-dataset links and deletions through
Django signals (they catch the admin and every service alike). Each queues a recomputation of the
affected assets and everything downstream of them after the change commits."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models.signals import m2m_changed, post_save, pre_delete

from apps.catalog import services as catalog
from apps.catalog.models import Asset, ConsentRecord

from .scheduling import schedule_recompute


def on_consent_change(consent_id: int) -> None:
    """Called after a consent was withdrawn or expired (and the change committed)."""
    from workers.lineage_tasks import recompute_for_consent

    recompute_for_consent.delay(consent_id)


def _asset_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if isinstance(instance, Asset) and not raw:
        schedule_recompute([instance.pk])


def _training_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        schedule_recompute(list(pk_set or []) if reverse else [instance.pk])


def _asset_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Before an asset goes: what was downstream of it loses an upstream; its edges go with it."""
    if not isinstance(instance, Asset) or instance.pk is None:
        return
    from .graph import downstream_nodes

    affected = [n for n in downstream_nodes([instance.pk]) if n != instance.pk]
    with connection.cursor() as cur:
        cur.execute("DELETE FROM lineage_edge WHERE src = %s OR dst = %s", [instance.pk, instance.pk])
    schedule_recompute(affected)


def _consent_saved(sender: Any, instance: ConsentRecord, raw: bool = False, **kwargs: Any) -> None:
    if not raw and instance.pk:
        schedule_recompute(Asset.objects.filter(consent_id=instance.pk).values_list("pk", flat=True))


def connect() -> None:
    if on_consent_change not in catalog.CONSENT_CHANGE_HOOKS:
        catalog.CONSENT_CHANGE_HOOKS.append(on_consent_change)
    post_save.connect(_asset_saved, dispatch_uid="lineage.asset_saved")
    pre_delete.connect(_asset_deleting, dispatch_uid="lineage.asset_deleting")
    m2m_changed.connect(_training_changed, sender=Asset.training_datasets.through, dispatch_uid="lineage.training_changed")
    post_save.connect(_consent_saved, sender=ConsentRecord, dispatch_uid="lineage.consent_saved")
