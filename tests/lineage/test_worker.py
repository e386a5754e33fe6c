"""A real Celery worker keeps the materialized constraints current as events arrive."""

from __future__ import annotations

import pytest

from apps.catalog import services as catalog
from apps.catalog.models import Asset, Jurisdiction
from apps.lineage.models import EffectiveConstraint
from tests.lineage.conftest import ds, run_event
from tests.utils import wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ingestion_and_withdrawal_recompute_through_the_worker(live_worker, post_event, project, actor_context):
    consent = catalog.create_consent({"project": project, "reference": "W-1", "legal_basis": "consent", "purposes": ["research"]})
    catalog.create_asset("dataset", {"project": project, "namespace": "s3://w", "name": "src", "consent": consent,
                                     "storage_jurisdiction": Jurisdiction.objects.get(code="DE"), "processing_jurisdictions": ["EU"]})
    assert post_event(run_event("w.job", [ds("s3://w", "src")], [ds("s3://w", "derived")])).status_code == 201
    derived = Asset.objects.get(name="derived")
    row = wait_for(lambda: EffectiveConstraint.objects.filter(asset=derived).first(), timeout=60, what="the worker to compute constraints")
    assert row.purposes == ["research"] and "unknown_residency" in row.flags  # derived itself has no residency yet
    catalog.withdraw_consent(consent, reason="withdrawn by the data subject")
    wait_for(lambda: "consent_withdrawn" in EffectiveConstraint.objects.get(asset=derived).flags, timeout=60,
             what="the withdrawal to reach the derived dataset")
    assert EffectiveConstraint.objects.get(asset=derived).purposes == []
