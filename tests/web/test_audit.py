"""The audit log pages: restricted like everything else, filterable, with a before/after diff."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.web.views.base import visible_audit_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(project, other_project, make_dataset, actor_context):
    from apps.catalog import services

    ours = make_dataset(name="ours")
    services.update_asset(ours, {"classification": "restricted", "description": "now restricted"})
    theirs = make_dataset(project=other_project, name="theirs")
    return ours, theirs


def test_members_see_their_projects_events_and_org_roles_see_all(member, compliance, auditor, outsider, events):
    ours, theirs = events
    mine = set(visible_audit_events(member).values_list("object_id", flat=True))
    assert str(ours.pk) in mine and str(theirs.pk) not in mine
    assert visible_audit_events(member).filter(project_id=theirs.project_id).count() == 0
    for org_wide in (compliance, auditor):
        assert visible_audit_events(org_wide).count() == AuditEvent.objects.count()
    assert str(ours.pk) not in set(visible_audit_events(outsider).values_list("object_id", flat=True))


def test_audit_list_is_restricted_and_filterable(login, member, events):
    ours, theirs = events
    client = login(member)
    html = client.get("/audit/").content.decode()
    assert "s3://test-bucket/ours" in html and "s3://test-bucket/theirs" not in html
    html = client.get("/audit/?action=dataset.update").content.decode()
    assert "catalog.dataset.update" in html and "catalog.dataset.create" not in html
    html = client.get(f"/audit/?object_type=catalog.asset&object_id={ours.pk}").content.decode()
    assert "2 events" in html
    assert "0 events" in client.get("/audit/?actor=nobody-by-that-name").content.decode()
    assert "olga" not in client.get("/audit/?actor=test").content.decode()  # fixtures act as "test"
    part = client.get("/audit/?action=update", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in part and "catalog.dataset.update" in part


def test_audit_detail_shows_the_diff_and_hides_other_projects(login, member, outsider, events):
    ours, theirs = events
    update = AuditEvent.objects.get(action="catalog.dataset.update", object_id=str(ours.pk))
    html = login(member).get(f"/audit/{update.pk}/").content.decode()
    assert "What changed" in html
    assert '<td class="before">internal</td><td class="after">restricted</td>' in html
    assert "description" in html and "now restricted" in html
    assert f'href="/assets/{ours.pk}/"' in html
    assert login(outsider).get(f"/audit/{update.pk}/").status_code == 404
    other = AuditEvent.objects.filter(object_id=str(theirs.pk)).first()
    assert login(member).get(f"/audit/{other.pk}/").status_code == 404


def test_asset_page_lists_its_recent_changes(login, member, events):
    ours, _ = events
    html = login(member).get(f"/assets/{ours.pk}/").content.decode()
    assert "catalog.dataset.update" in html and "catalog.dataset.create" in html
    assert "classification" in html
