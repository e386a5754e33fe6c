"""Datasets and models in the UI: isolation, permissions, service-backed writes, validation,
optimistic locking, constant-query lists and the htmx live-search partial."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.catalog.models import Asset, AssetKind, NamespaceRule, ResidencySource

from .helpers import audit_writes

pytestmark = pytest.mark.django_db


def _dataset_form(project, **kw):
    data = {"project": project.pk, "namespace": "s3://acme-eu-health", "name": "patients", "owner": "",
            "description": "Oncology cohort", "tags": "oncology, imaging", "classification": "restricted",
            "contains_pii": "on", "storage_jurisdiction": "DE", "processing_jurisdictions": "de, EU", "consent": ""}
    data.update(kw)
    return data


def _snapshot():
    return Asset.objects.count(), audit_writes()


# --- isolation and permissions ------------------------------------------------------------

def test_outsider_cannot_see_or_edit_another_projects_asset(login, outsider, make_dataset):
    asset = make_dataset(name="secret-cohort")
    client = login(outsider)
    for url in (f"/assets/{asset.pk}/", f"/assets/{asset.pk}/edit/", f"/assets/{asset.pk}/delete/"):
        assert client.get(url).status_code == 404, url
    before = _snapshot()
    r = client.post(f"/assets/{asset.pk}/edit/", _dataset_form(asset.project, name="stolen", version=asset.version))
    assert r.status_code == 404
    assert client.post(f"/assets/{asset.pk}/delete/", {"version": asset.version}).status_code == 404
    assert _snapshot() == before
    asset.refresh_from_db()
    assert asset.name == "secret-cohort"
    assert b"secret-cohort" not in client.get("/datasets/?q=secret").content


def test_member_can_view_and_edit_but_not_delete(login, member, make_dataset):
    asset = make_dataset()
    client = login(member)
    html = client.get(f"/assets/{asset.pk}/").content.decode()
    assert f'href="/assets/{asset.pk}/edit/"' in html
    assert f'href="/assets/{asset.pk}/delete/"' not in html
    assert client.get(f"/assets/{asset.pk}/delete/").status_code == 403
    before = _snapshot()
    r = client.post(f"/assets/{asset.pk}/delete/", {"version": asset.version})
    assert r.status_code == 403 and b"Forbidden" in r.content
    assert _snapshot() == before


def test_read_only_roles_see_no_edit_or_delete_buttons(login, auditor, make_dataset):
    asset = make_dataset()
    html = login(auditor).get(f"/assets/{asset.pk}/").content.decode()
    assert "/edit/" not in html and "/delete/" not in html
    assert "New dataset" not in login(auditor).get("/datasets/").content.decode()


def test_create_form_offers_only_projects_where_the_user_may_add(login, admin_user, owner, project, other_project):
    html = login(owner).get("/datasets/new/").content.decode()
    assert f'<option value="{project.pk}"' in html
    assert f'<option value="{other_project.pk}"' not in html
    before = _snapshot()
    r = login(owner).post("/datasets/new/", _dataset_form(other_project))
    assert r.status_code == 200 and b"Select a valid choice" in r.content
    assert _snapshot() == before


# --- writes go through the services ---------------------------------------------------------

def test_steward_creates_a_dataset_and_it_is_audited(login, owner, project, make_consent):
    consent = make_consent()
    r = login(owner).post("/datasets/new/", _dataset_form(project, consent=consent.pk, owner=owner.pk))
    assert r.status_code == 302
    asset = Asset.objects.get(name="patients")
    assert r["Location"] == f"/assets/{asset.pk}/"
    assert (asset.kind, asset.storage_jurisdiction_id, asset.processing_jurisdictions) == (AssetKind.DATASET, "DE", ["DE", "EU"])
    assert asset.residency_source == ResidencySource.DECLARED
    assert asset.tags == ["imaging", "oncology"] and asset.contains_pii and asset.consent == consent
    event = AuditEvent.objects.get(action="catalog.dataset.create", object_id=str(asset.pk))
    assert event.actor_label == "olga"
    page = login(owner).get(r["Location"]).content.decode()
    assert "created." in page and "patients" in page and "Declared by a person" in page


def test_empty_storage_jurisdiction_is_inferred_from_namespace_rules_or_unknown(login, owner, project, reference_data):
    NamespaceRule.objects.create(pattern="s3://acme-eu-*", jurisdiction_id="EU")
    client = login(owner)
    client.post("/datasets/new/", _dataset_form(project, storage_jurisdiction="", processing_jurisdictions=""))
    inferred = Asset.objects.get(name="patients")
    assert (inferred.storage_jurisdiction_id, inferred.residency_source) == ("EU", ResidencySource.NAMESPACE_RULE)
    client.post("/datasets/new/", _dataset_form(project, namespace="s3://mystery", storage_jurisdiction="", processing_jurisdictions=""))
    unknown = Asset.objects.get(namespace="s3://mystery")
    assert unknown.storage_jurisdiction_id is None and unknown.residency_source == ResidencySource.UNKNOWN
    assert "Residency unknown" in client.get(f"/assets/{unknown.pk}/").content.decode()


def test_validation_errors_are_shown_next_to_the_field_and_nothing_is_written(login, owner, project, make_dataset):
    make_dataset(namespace="s3://taken", name="dup")
    client = login(owner)
    before = _snapshot()
    r = client.post("/datasets/new/", _dataset_form(project, processing_jurisdictions="DE, XX"))
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="id_processing_jurisdictions_errors"' in html and "Unknown jurisdiction: XX." in html
    assert 'aria-invalid="true"' in html and "There is a problem" in html
    r = client.post("/datasets/new/", _dataset_form(project, classification="top-secret", name=""))
    assert "Select a valid choice" in r.content.decode() and 'id="id_name_errors"' in r.content.decode()
    r = client.post("/datasets/new/", _dataset_form(project, namespace="s3://taken", name="dup"))
    assert r.status_code == 200 and "already exists" in r.content.decode()
    r = client.post("/datasets/new/", _dataset_form(project, storage_jurisdiction="", processing_jurisdictions="EU"))
    assert 'id="id_storage_jurisdiction_errors"' in r.content.decode()
    assert _snapshot() == before


def test_consent_of_another_project_is_refused_with_a_field_error(login, admin_user, project, other_project, make_consent):
    foreign = make_consent(project=other_project)
    before = _snapshot()
    r = login(admin_user).post("/datasets/new/", _dataset_form(project, consent=foreign.pk))
    assert r.status_code == 200
    assert 'id="id_consent_errors"' in r.content.decode() and "belongs to another project" in r.content.decode()
    assert _snapshot() == before


def test_model_form_registers_a_fine_tune_with_training_datasets(login, member, project, make_dataset, make_model):
    data = make_dataset(name="notes")
    base = make_model(name="llm-8b")
    client = login(member)
    r = client.post("/models/new/", {"project": project.pk, "namespace": "s3://models", "name": "triage-8b",
                                      "classification": "confidential", "storage_jurisdiction": "DE",
                                      "base_model": base.pk, "training_datasets": [data.pk]})
    assert r.status_code == 302, r.content.decode()[:2000]
    ft = Asset.objects.get(name="triage-8b")
    assert ft.kind == AssetKind.FINE_TUNE and ft.base_model == base and list(ft.training_datasets.all()) == [data]
    r = client.post("/models/new/", {"project": project.pk, "namespace": "s3://models", "name": "plain-8b",
                                      "classification": "internal", "storage_jurisdiction": "", "base_model": ""})
    assert r.status_code == 302 and Asset.objects.get(name="plain-8b").kind == AssetKind.MODEL
    html = client.get(f"/assets/{base.pk}/").content.decode()
    assert "triage-8b" in html  # fine-tunes derived from it
    html = client.get(f"/assets/{ft.pk}/").content.decode()
    assert "llm-8b" in html and "notes" in html


# --- edit and delete --------------------------------------------------------------------------

def test_edit_passes_the_version_and_reports_a_concurrent_change(login, owner, make_dataset, actor_context):
    from apps.catalog import services

    asset = make_dataset(storage_jurisdiction_id="DE")
    client = login(owner)
    html = client.get(f"/assets/{asset.pk}/edit/").content.decode()
    assert f'name="version" value="{asset.version}"' in html
    services.update_asset(asset, {"description": "changed elsewhere"})  # someone else, meanwhile
    before = _snapshot()
    r = client.post(f"/assets/{asset.pk}/edit/", _dataset_form(asset.project, name=asset.name, namespace=asset.namespace,
                                                              description="mine", version=asset.version))
    assert r.status_code == 200 and "changed by someone else" in r.content.decode()
    assert _snapshot() == before
    asset.refresh_from_db()
    assert asset.description == "changed elsewhere"


def test_edit_saves_and_keeps_an_inferred_residency_source(login, member, project, reference_data, actor_context):
    from apps.catalog import services

    NamespaceRule.objects.create(pattern="s3://acme-eu-*", jurisdiction_id="EU")
    asset = services.create_asset("dataset", {"project": project, "namespace": "s3://acme-eu-x", "name": "cohort"})
    assert asset.residency_source == ResidencySource.NAMESPACE_RULE
    r = login(member).post(f"/assets/{asset.pk}/edit/", {
        "project": project.pk, "namespace": asset.namespace, "name": "cohort", "classification": "confidential",
        "storage_jurisdiction": "EU", "processing_jurisdictions": "EU", "version": asset.version, "tags": "a"})
    assert r.status_code == 302
    asset.refresh_from_db()
    assert (asset.classification, asset.version, asset.residency_source) == ("confidential", 2, ResidencySource.NAMESPACE_RULE)
    event = AuditEvent.objects.filter(action="catalog.dataset.update", object_id=str(asset.pk)).get()
    assert event.actor_label == "milan" and "classification" in event.changed_fields


def test_owner_deletes_and_lineage_blocks_deletion(login, owner, make_dataset, make_model):
    lonely = make_dataset()
    used = make_dataset()
    make_model(kind="model", training_datasets=[used])
    client = login(owner)
    r = client.post(f"/assets/{lonely.pk}/delete/", {"version": lonely.version})
    assert r.status_code == 302 and r["Location"] == "/datasets/"
    assert not Asset.objects.filter(pk=lonely.pk).exists()
    assert AuditEvent.objects.filter(action="catalog.dataset.delete", object_id=str(lonely.pk)).exists()
    before = _snapshot()
    r = client.post(f"/assets/{used.pk}/delete/", {"version": used.version})
    assert r.status_code == 200 and "it must stay for their provenance" in r.content.decode()
    assert _snapshot() == before


# --- lists ----------------------------------------------------------------------------------------

def test_list_filters_search_and_columns(login, owner, make_dataset, make_consent, make_model):
    consent = make_consent()
    make_dataset(name="cohort-de", storage_jurisdiction_id="DE", consent=consent, contains_pii=True, classification="restricted")
    make_dataset(name="cohort-unknown")
    make_model(name="llm")
    client = login(owner)
    html = client.get("/datasets/").content.decode()
    assert "cohort-de" in html and "cohort-unknown" in html and "llm" not in html
    assert "⚠" in html and "Active" in html and "No consent" in html and "Restricted" in html
    html = client.get("/datasets/?residency=unknown").content.decode()
    assert "cohort-unknown" in html and "cohort-de" not in html
    html = client.get("/datasets/?storage_jurisdiction=de&consent_status=active").content.decode()
    assert "cohort-de" in html and "cohort-unknown" not in html
    html = client.get("/datasets/?q=unknown").content.decode()
    assert "cohort-unknown" in html and "cohort-de" not in html
    html = client.get("/models/").content.decode()
    assert "llm" in html and "cohort" not in html


def test_pagination_keeps_the_filters(login, owner, make_dataset):
    for i in range(30):
        make_dataset(name=f"cohort-{i:02d}", classification="confidential")
    client = login(owner)
    html = client.get("/datasets/?q=cohort&classification=confidential").content.decode()
    assert "30 datasets" in html and "Page 1 of 2" in html
    assert 'href="?q=cohort&amp;classification=confidential&amp;page=2"' in html
    html = client.get("/datasets/?q=cohort&classification=confidential&page=2").content.decode()
    assert "cohort-29" in html and "cohort-00" not in html


@pytest.mark.parametrize("url", ["/datasets/", "/models/"])
def test_list_query_count_does_not_grow_with_rows(login, owner, project, make_dataset, make_model, make_consent, url):
    consent = make_consent()
    make_one = make_dataset if url == "/datasets/" else make_model

    def count_queries() -> int:
        client = login(owner)  # a fresh user object (roles are cached per user object)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    for i in range(2):
        make_one(name=f"a-{i}", storage_jurisdiction_id="DE", consent=consent, owner=owner)
    small = count_queries()
    for i in range(2, 30):
        make_one(name=f"a-{i}", storage_jurisdiction_id="DE", consent=consent, owner=owner)
    assert count_queries() == small, small


def test_htmx_request_returns_only_the_results_fragment(login, owner, make_dataset):
    make_dataset(name="alpha-cohort")
    make_dataset(name="beta-cohort")
    client = login(owner)
    full = client.get("/datasets/?q=alpha")
    assert b"<html" in full.content and b'hx-get="/datasets/"' in full.content
    assert b'hx-trigger="keyup changed delay:300ms' in full.content
    part = client.get("/datasets/?q=alpha", HTTP_HX_REQUEST="true")
    html = part.content.decode()
    assert part.status_code == 200 and "HX-Request" in part["Vary"]
    assert "<html" not in html and "mainnav" not in html and "<form" not in html
    assert 'id="asset-table"' in html and "alpha-cohort" in html and "beta-cohort" not in html
    restore = client.get("/datasets/?q=alpha", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in restore.content  # back button after a cache miss needs the whole page


def test_live_search_after_the_session_expired_redirects_the_whole_page(client):
    r = client.get("/datasets/?q=x", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r["HX-Redirect"] == "/login/?next=%2Fdatasets%2F%3Fq%3Dx"


def test_dataset_versions_are_recorded_through_the_service(login, member, auditor, make_dataset):
    from apps.catalog.models import DatasetVersion

    asset = make_dataset()
    assert f"/assets/{asset.pk}/versions/new/" not in login(auditor).get(f"/assets/{asset.pk}/").content.decode()
    assert login(auditor).get(f"/assets/{asset.pk}/versions/new/").status_code == 403
    client = login(member)
    assert f"/assets/{asset.pk}/versions/new/" in client.get(f"/assets/{asset.pk}/").content.decode()
    r = client.post(f"/assets/{asset.pk}/versions/new/", {"version": "2025-06", "location": "s3://b/2025-06", "row_count": 1200})
    assert r.status_code == 302
    v = DatasetVersion.objects.get(dataset=asset)
    assert (v.version, v.row_count) == ("2025-06", 1200)
    assert AuditEvent.objects.filter(action="catalog.datasetversion.create", object_id=str(v.pk), actor_label="milan").exists()
    before = audit_writes()
    r = client.post(f"/assets/{asset.pk}/versions/new/", {"version": "2025-06"})
    assert r.status_code == 200 and "already exists" in r.content.decode()
    assert audit_writes() == before
    assert "2025-06" in client.get(f"/assets/{asset.pk}/").content.decode()
