import pytest
from django.db import DatabaseError, connection, transaction

from apps import audit
from apps.audit.models import AuditEvent
from apps.audit.recorder import AuditOutsideTransaction
from apps.catalog import services
from apps.catalog.models import Asset

pytestmark = pytest.mark.django_db


def test_database_refuses_update_and_delete(make_dataset):
    make_dataset()
    event = AuditEvent.objects.latest("id")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET after = '{}' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "catalog.dataset.create"


def test_record_refuses_to_run_outside_a_transaction(project):
    with pytest.raises(AuditOutsideTransaction):
        # pytest-django wraps tests in a transaction; leave it to prove the guard.
        connection.in_atomic_block, saved = False, connection.in_atomic_block
        try:
            audit.record("x.y", project)
        finally:
            connection.in_atomic_block = saved


def test_write_and_its_audit_event_commit_or_fail_together(make_dataset, monkeypatch):
    ds = make_dataset()
    events = AuditEvent.objects.count()

    def broken(*args, **kwargs):
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr("apps.core.services.audit.record", broken)
    with pytest.raises(RuntimeError):
        services.update_asset(ds, {"description": "should not stick"})
    assert Asset.objects.get(pk=ds.pk).description == ""
    assert AuditEvent.objects.count() == events


def test_update_records_before_and_after(make_dataset):
    ds = make_dataset(description="old")
    services.update_asset(ds, {"description": "new", "tags": ["b", "a"]})
    event = AuditEvent.objects.filter(action="catalog.dataset.update").latest("id")
    assert event.before["description"] == "old" and event.after["description"] == "new"
    assert event.after["tags"] == ["a", "b"]
    assert set(event.changed_fields) == {"description", "tags", "version", "updated_at"}
    assert event.project_id == ds.project_id


def test_audit_api_is_not_exposed_for_writes(api, admin_user):
    # the ledger has no write endpoint at all
    assert api.as_user(admin_user).post("/api/v1/audit-events/", {}, format="json").status_code == 404
