from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import Asset, ConsentRecord, ConsentStatus, NamespaceRule, ResidencySource
from apps.core import context

log = logging.getLogger(__name__)


def _system(task_name: str) -> context.Actor:
    return context.Actor(user_id=None, label=f"system:{task_name}", kind="system")


@shared_task(name="catalog.reinfer_residency", ignore_result=True, acks_late=True)
def reinfer_residency(rule_id: int) -> int:
    """After a namespace rule is created or changed, give assets with unknown or rule-derived
    residency under it their residency. Idempotent: re-running changes nothing more."""
    rule = NamespaceRule.objects.filter(pk=rule_id).first()
    if rule is None:
        return 0
    candidates = Asset.objects.filter(
        residency_source__in=[ResidencySource.UNKNOWN, ResidencySource.NAMESPACE_RULE]
    ).only("id", "namespace", "name")
    matching = [a.pk for a in candidates.iterator() if rule.matches(a.namespace, a.name)]
    changed = 0
    with context.acting_as(_system("reinfer_residency")):
        for pk in matching:
            with transaction.atomic():
                asset = Asset.objects.select_for_update().filter(pk=pk).first()
                if asset is not None:
                    changed += services.apply_residency_rules([asset])
    log.info("namespace rule %s: %s of %s matching assets changed residency", rule.pattern, changed, len(matching))
    return changed


@shared_task(name="catalog.expire_consents", ignore_result=True, acks_late=True)
def expire_consents() -> int:
    """Beat task: mark consents past their validity as expired (the status is also computed on
    read, so nothing is ever treated as valid while this waits for its turn)."""
    now = timezone.now()
    expired = 0
    with context.acting_as(_system("expire_consents")):
        for pk in ConsentRecord.objects.filter(status=ConsentStatus.ACTIVE, valid_until__lte=now).values_list("pk", flat=True):
            with transaction.atomic():
                # Compare-and-swap: two beats racing expire each record once.
                if ConsentRecord.objects.filter(pk=pk, status=ConsentStatus.ACTIVE).update(status=ConsentStatus.EXPIRED) != 1:
                    continue
                consent = ConsentRecord.objects.get(pk=pk)
                from apps import audit

                audit.record("catalog.consentrecord.expire", consent,
                             before={"status": ConsentStatus.ACTIVE}, after={"status": ConsentStatus.EXPIRED},
                             extra={"valid_until": consent.valid_until})
                transaction.on_commit(lambda pk=pk: services._announce_consent_change(pk))
                expired += 1
    return expired
