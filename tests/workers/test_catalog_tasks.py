import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.catalog import services
from apps.catalog.models import Asset, ConsentRecord, Jurisdiction
from tests.utils import wait_for
from workers.catalog_tasks import expire_consents, reinfer_residency


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_new_namespace_rule_resolves_unknown_residency_through_the_worker(live_worker, project, actor_context):
    unknown = services.create_asset("dataset", {"project": project, "namespace": "s3://acme-eu-new", "name": "t"})
    declared = services.create_asset("dataset", {"project": project, "namespace": "s3://acme-eu-new", "name": "d",
                                                 "storage_jurisdiction": Jurisdiction.objects.get(code="FR")})
    assert unknown.storage_jurisdiction_id is None
    services.create_namespace_rule({"pattern": "s3://acme-eu-*", "jurisdiction": Jurisdiction.objects.get(code="EU")})
    wait_for(lambda: Asset.objects.get(pk=unknown.pk).storage_jurisdiction_id == "EU", timeout=60,
             what="the worker to apply the rule")
    refreshed = Asset.objects.get(pk=unknown.pk)
    assert refreshed.processing_jurisdictions == ["EU"] and refreshed.residency_source == "namespace_rule"
    assert Asset.objects.get(pk=declared.pk).storage_jurisdiction_id == "FR"  # declared residency is never overwritten
    event = AuditEvent.objects.filter(action="catalog.dataset.update", object_id=str(unknown.pk)).get()
    assert event.actor_label == "system:reinfer_residency"


@pytest.mark.django_db
def test_reinfer_is_idempotent_and_tolerates_missing_rows(project, actor_context, reference_data):
    services.create_asset("dataset", {"project": project, "namespace": "s3://lake-x", "name": "t"})
    rule = services.create_namespace_rule({"pattern": "s3://lake-*", "jurisdiction": Jurisdiction.objects.get(code="DE")})
    assert reinfer_residency(rule.pk) == 1
    assert reinfer_residency(rule.pk) == 0
    assert reinfer_residency(999_999) == 0


@pytest.mark.django_db
def test_expire_consents_marks_once_and_audits(project, actor_context, reference_data):
    now = timezone.now()
    past = services.create_consent({"project": project, "reference": "old", "legal_basis": "consent", "purposes": ["research"],
                                    "valid_from": now - dt.timedelta(days=10), "valid_until": now - dt.timedelta(days=1)})
    live = services.create_consent({"project": project, "reference": "live", "legal_basis": "consent", "purposes": ["research"],
                                    "valid_until": now + dt.timedelta(days=1)})
    assert expire_consents() == 1
    assert expire_consents() == 0
    assert ConsentRecord.objects.get(pk=past.pk).status == "expired"
    assert ConsentRecord.objects.get(pk=live.pk).status == "active"
    assert AuditEvent.objects.filter(action="catalog.consentrecord.expire", object_id=str(past.pk)).count() == 1
