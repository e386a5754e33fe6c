"""Consent records in the UI: create, edit, withdraw (reason required), isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.catalog.models import ConsentRecord, ConsentStatus

from .helpers import audit_writes

pytestmark = pytest.mark.django_db


def _form(project, **kw):
    data = {"project": project.pk, "reference": "RCPT-2025-001", "legal_basis": "consent",
            "purposes": ["research.medical", "healthcare"], "jurisdiction_scope": "de, EU",
            "data_subject_categories": "patients", "personal_data_categories": "health, imaging",
            "controller": "Charité", "valid_from": "2025-01-01T00:00", "valid_until": "2027-01-01T00:00", "notes": ""}
    data.update(kw)
    return data


def _snapshot():
    return ConsentRecord.objects.count(), audit_writes()


def test_steward_records_a_consent(login, owner, project, reference_data):
    client = login(owner)
    html = client.get("/consents/new/").content.decode()
    assert 'type="checkbox" name="purposes" value="research.medical"' in html
    assert 'type="datetime-local"' in html
    r = client.post("/consents/new/", _form(project))
    assert r.status_code == 302
    consent = ConsentRecord.objects.get(reference="RCPT-2025-001")
    assert consent.purposes == ["healthcare", "research.medical"]
    assert consent.jurisdiction_scope == ["DE", "EU"]
    assert consent.personal_data_categories == ["health", "imaging"]
    assert consent.valid_until == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert AuditEvent.objects.filter(action="catalog.consentrecord.create", object_id=str(consent.pk), actor_label="olga").exists()
    assert "RCPT-2025-001" in client.get("/consents/?purpose=healthcare").content.decode()


def test_consent_validation_errors_write_nothing(login, owner, project, reference_data):
    client = login(owner)
    before = _snapshot()
    r = client.post("/consents/new/", _form(project, purposes=[]))
    assert r.status_code == 200 and 'id="id_purposes_errors"' in r.content.decode()
    r = client.post("/consents/new/", _form(project, valid_until="2024-01-01T00:00"))
    assert 'id="id_valid_until_errors"' in r.content.decode() and "Must be after the start of validity" in r.content.decode()
    r = client.post("/consents/new/", _form(project, jurisdiction_scope="DE, QQ"))
    assert "Unknown jurisdiction: QQ." in r.content.decode()
    assert _snapshot() == before


def test_ml_engineer_may_not_record_or_withdraw_consents(login, member, make_consent):
    consent = make_consent()
    client = login(member)
    assert client.get("/consents/new/").status_code == 403
    html = client.get(f"/consents/{consent.pk}/").content.decode()
    assert "/withdraw/" not in html
    before = _snapshot()
    assert client.post(f"/consents/{consent.pk}/withdraw/", {"reason": "x", "version": 1}).status_code == 403
    assert _snapshot() == before


def test_outsider_cannot_see_another_projects_consent(login, outsider, make_consent):
    consent = make_consent(reference="HIDDEN-1")
    client = login(outsider)
    for url in (f"/consents/{consent.pk}/", f"/consents/{consent.pk}/edit/", f"/consents/{consent.pk}/withdraw/"):
        assert client.get(url).status_code == 404
    assert "HIDDEN-1" not in client.get("/consents/").content.decode()
    assert f'value="{consent.pk}"' not in client.get("/datasets/new/").content.decode()


def test_withdraw_needs_a_reason_and_is_recorded(login, compliance, make_consent, make_dataset):
    consent = make_consent()
    make_dataset(consent=consent, name="cohort")
    client = login(compliance)
    page = client.get(f"/consents/{consent.pk}/withdraw/").content.decode()
    assert "1 asset relies on this record" in page
    before = _snapshot()
    r = client.post(f"/consents/{consent.pk}/withdraw/", {"reason": "   ", "version": consent.version})
    assert r.status_code == 200 and 'id="id_reason_errors"' in r.content.decode()
    assert _snapshot() == before
    r = client.post(f"/consents/{consent.pk}/withdraw/", {"reason": "Data subject request DPO-7", "version": consent.version})
    assert r.status_code == 302
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.WITHDRAWN and consent.withdrawal_reason == "Data subject request DPO-7"
    assert AuditEvent.objects.filter(action="catalog.consentrecord.withdraw", object_id=str(consent.pk), actor_label="clara").exists()
    html = client.get(f"/consents/{consent.pk}/").content.decode()
    assert "Withdrawn" in html and "/edit/" not in html and "cohort" in html
    r = client.get(f"/consents/{consent.pk}/edit/")
    assert r.status_code == 302  # a withdrawn record is not edited; record a new one


def test_edit_consent_with_stale_version_is_refused(login, owner, make_consent, actor_context):
    from apps.catalog import services

    consent = make_consent(valid_until=timezone.now() + dt.timedelta(days=300))
    client = login(owner)
    html = client.get(f"/consents/{consent.pk}/edit/").content.decode()
    assert 'name="project"' not in html  # a record never moves between projects
    services.update_consent(consent, {"notes": "someone else"})
    data = _form(consent.project, reference=consent.reference, version=consent.version)
    r = client.post(f"/consents/{consent.pk}/edit/", data)
    assert "changed by someone else" in r.content.decode()
    consent.refresh_from_db()
    r = client.post(f"/consents/{consent.pk}/edit/", {**data, "version": consent.version, "notes": "renewed"})
    assert r.status_code == 302
    consent.refresh_from_db()
    assert consent.notes == "renewed" and consent.version == 3


def test_list_shows_effective_status_and_filters(login, owner, make_consent):
    now = timezone.now()
    make_consent(reference="SOON", valid_until=now + dt.timedelta(days=5))
    make_consent(reference="LATER", valid_until=now + dt.timedelta(days=100))
    make_consent(reference="OLD", valid_from=now - dt.timedelta(days=50), valid_until=now - dt.timedelta(days=1))
    client = login(owner)
    html = client.get("/consents/").content.decode()
    assert "SOON" in html and "Expired" in html
    html = client.get("/consents/?expiring_within_days=30").content.decode()
    assert "SOON" in html and "LATER" not in html and "OLD" not in html
    part = client.get("/consents/?q=LATER", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in part and "LATER" in part and "SOON" not in part
