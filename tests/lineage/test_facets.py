"""Dataset facets → the catalog and govhub's dataset metadata."""

from __future__ import annotations

import pytest

from apps.catalog import services as catalog
from apps.catalog.models import Asset, ConsentRecord, Jurisdiction
from apps.lineage.models import ColumnEdge, DatasetAlias, DatasetField, DatasetMeta, Edge, Job
from tests.lineage.conftest import ds, facet, run_event, tags

pytestmark = pytest.mark.django_db


def test_tags_set_residency_classification_and_consent(post_event, project, actor_context):
    consent = catalog.create_consent({"project": project, "reference": "ONCO-1", "legal_basis": "consent",
                                      "purposes": ["research.medical"], "jurisdiction_scope": ["EU"]})
    out = ds("s3://lake", "cohort", tags=tags(jurisdiction="EU", classification="restricted", legal_basis="ONCO-1", pii="true", domain="oncology"))
    response = post_event(run_event("etl.cohort", [], [out]))
    assert response.status_code == 201 and response.json()["warnings"] == []
    asset = Asset.objects.get(name="cohort")
    assert (asset.storage_jurisdiction_id, asset.processing_jurisdictions, asset.residency_source) == ("EU", ["EU"], "lineage")
    assert asset.classification == "restricted" and asset.consent == consent and asset.contains_pii
    assert "domain:oncology" in asset.tags


def test_unknown_tag_values_are_rejected_with_the_path(post_event):
    response = post_event(run_event("etl.x", [], [ds("s3://lake", "x", tags=tags(jurisdiction="ATLANTIS", classification="secret"))]))
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"outputs[0].facets.tags.tags[0].value", "outputs[0].facets.tags.tags[1].value"}
    assert not Asset.objects.filter(name="x").exists()


def test_govhub_facets_state_residency_and_consent(post_event, api, project, owner, actor_context):
    out = ds("s3://lake", "stated",
             govhub_residency={"storageJurisdiction": "DE", "processingJurisdictions": ["DE", "FR"]},
             govhub_consent={"reference": "NEW-CONSENT", "legalBasis": "consent", "purposes": ["research"], "jurisdictionScope": ["EU"]})
    # The ML engineer's pipeline may state residency but not record a consent that does not exist.
    response = post_event(run_event("etl.stated", [], [out]))
    assert response.status_code == 201 and "NEW-CONSENT" in response.json()["warnings"][0]
    asset = Asset.objects.get(name="stated")
    assert (asset.storage_jurisdiction_id, asset.processing_jurisdictions, asset.residency_source) == ("DE", ["DE", "FR"], "lineage")
    assert asset.consent is None and not ConsentRecord.objects.exists()
    # A data steward's pipeline records it (audited, in the project) and links it.
    from apps.accounts import services

    steward_pipeline = services.create_service_account("steward-etl", owner=owner, project=project, role="data_steward")
    _, raw = services.issue_token(steward_pipeline, name="etl", scope="write", expires_in_days=5)
    out["facets"]["documentation"] = facet(description="changed, so the facets apply again")
    assert api.with_token(raw).post("/api/v1/lineage", run_event("etl.stated", [], [out]), format="json").status_code == 201
    consent = ConsentRecord.objects.get(reference="NEW-CONSENT")
    asset.refresh_from_db()
    assert asset.consent == consent and consent.project == project and consent.purposes == ["research"]
    assert consent.jurisdiction_scope == ["EU"] and consent.legal_basis == "consent"


def test_govhub_facet_schema_is_enforced(post_event):
    bad = ds("s3://lake", "badfacet", govhub_residency={"processingJurisdictions": ["de"]})
    response = post_event(run_event("etl.bad", [], [bad]))
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "outputs[0].facets.govhub_residency.storageJurisdiction" in fields
    assert "outputs[0].facets.govhub_residency.processingJurisdictions[0]" in fields


def test_declared_residency_is_kept_and_classification_only_rises(post_event, make_dataset):
    make_dataset(namespace="s3://lake", name="declared", storage_jurisdiction=Jurisdiction.objects.get(code="FR"),
                 classification="confidential")
    response = post_event(run_event("etl.d", [], [ds("s3://lake", "declared", tags=tags(jurisdiction="US", classification="public"))]))
    assert response.status_code == 201
    warnings = " ".join(response.json()["warnings"])
    assert "declared" in warnings and "lower" in warnings
    asset = Asset.objects.get(name="declared")
    assert (asset.storage_jurisdiction_id, asset.residency_source, asset.classification) == ("FR", "declared", "confidential")


def test_namespace_rules_give_new_assets_their_residency(post_event, actor_context):
    catalog.create_namespace_rule({"pattern": "s3://acme-eu-*", "jurisdiction": Jurisdiction.objects.get(code="EU")})
    assert post_event(run_event("etl.r", [ds("s3://acme-eu-raw", "events")], [])).status_code == 201
    asset = Asset.objects.get(name="events")
    assert (asset.storage_jurisdiction_id, asset.residency_source) == ("EU", "namespace_rule")


def test_symlinks_match_catalog_assets_and_are_remembered(post_event, make_dataset):
    table = make_dataset(namespace="hive://metastore", name="db.patients")
    aliased = ds("s3://warehouse", "/db/patients", symlinks={"identifiers": [{"namespace": "hive://metastore", "name": "db.patients", "type": "TABLE"}]})
    assert post_event(run_event("spark.read", [aliased], [])).status_code == 201
    assert not Asset.objects.filter(name="/db/patients").exists()
    assert DatasetAlias.objects.get(namespace="s3://warehouse", name="/db/patients").asset == table
    assert post_event(run_event("spark.read2", [ds("s3://warehouse", "/db/patients")], [])).status_code == 201
    job2 = Job.objects.get(name="spark.read2")
    assert Edge.objects.filter(src=table.pk, dst=-job2.pk).exists()


def test_schema_documentation_ownership(post_event, owner, project):
    schema = {"fields": [{"name": "id", "type": "BIGINT"}, {"name": "address", "type": "STRUCT",
                                                              "fields": [{"name": "city", "type": "VARCHAR", "description": "City"}]}]}
    out = ds("s3://lake", "people", schema=schema, documentation={"description": "People."},
             ownership={"owners": [{"name": "user:olga", "type": "MAINTAINER"}]},
             tags={"tags": [{"key": "pii", "value": "true", "field": "address.city"}]})
    assert post_event(run_event("etl.people", [], [out])).status_code == 201
    asset = Asset.objects.get(name="people")
    assert asset.description == "People." and asset.owner == owner
    fields = {f.name: f for f in DatasetField.objects.filter(asset=asset)}
    assert set(fields) == {"id", "address", "address.city"} and fields["address.city"].description == "City"
    assert fields["address.city"].tags == [{"key": "pii", "value": "true"}] and fields["id"].ordinal == 1
    meta = DatasetMeta.objects.get(asset=asset)
    assert meta.owners[0]["name"] == "user:olga" and meta.documentation == "People."
    # A later schema without "id": the column stays known, no longer in the schema.
    out["facets"]["schema"] = facet(fields=[{"name": "address", "type": "STRUCT"}])
    assert post_event(run_event("etl.people", [], [out])).status_code == 201
    assert not DatasetField.objects.get(asset=asset, name="id").in_schema


def test_column_lineage_with_transformations_and_masking(post_event):
    cl = {"fields": {
        "email_hash": {"inputFields": [{"namespace": "s3://lake", "name": "users", "field": "email",
                                        "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION", "description": "sha256", "masking": True}]}]},
        "country": {"inputFields": [{"namespace": "s3://lake", "name": "users", "field": "country"}],
                    "transformationType": "IDENTITY", "transformationDescription": "copied"},
    }, "dataset": [{"namespace": "s3://lake", "name": "users", "field": "active",
                    "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}]}]}
    event = run_event("etl.users", [ds("s3://lake", "users")], [ds("s3://lake", "users_masked", columnLineage=cl)])
    assert post_event(event).status_code == 201
    users, masked = Asset.objects.get(name="users"), Asset.objects.get(name="users_masked")
    edges = {(e.src.name, e.dst.name if e.dst else None): e for e in ColumnEdge.objects.select_related("src", "dst")}
    assert set(edges) == {("email", "email_hash"), ("country", "country"), ("active", None)}
    assert edges[("email", "email_hash")].masking and edges[("email", "email_hash")].subtype == "TRANSFORMATION"
    assert edges[("country", "country")].transformation_type == "IDENTITY" and not edges[("country", "country")].masking
    assert edges[("active", None)].dst_asset == masked and edges[("active", None)].transformation_type == "INDIRECT"
    assert edges[("email", "email_hash")].src.asset == users and edges[("email", "email_hash")].job.name == "etl.users"
    assert post_event(event).status_code == 200  # a repeat adds nothing
    assert ColumnEdge.objects.count() == 3


def test_column_lineage_naming_a_dataset_not_in_inputs_adds_it_upstream(post_event):
    cl = {"fields": {"y": {"inputFields": [{"namespace": "s3://lake", "name": "side", "field": "x"}]}}}
    assert post_event(run_event("etl.side", [], [ds("s3://lake", "main", columnLineage=cl)])).status_code == 201
    side, job = Asset.objects.get(name="side"), Job.objects.get(name="etl.side")
    assert Edge.objects.filter(src=side.pk, dst=-job.pk).exists()


def test_training_run_registers_a_fine_tune(post_event, project):
    model_type = {"datasetType": {"datasetType": "MODEL"}}
    base = ds("s3://models", "llm-8b", **model_type)
    corpus, notes = ds("s3://lake", "corpus"), ds("s3://lake", "notes")
    out = ds("s3://models", "llm-8b-onco", **model_type)
    assert post_event(run_event("train.onco", [base, corpus, notes], [out])).status_code == 201
    tuned = Asset.objects.get(name="llm-8b-onco")
    assert tuned.kind == "fine_tune" and tuned.base_model == Asset.objects.get(name="llm-8b")
    assert Asset.objects.get(name="llm-8b").kind == "model"
    assert set(tuned.training_datasets.values_list("name", flat=True)) == {"corpus", "notes"}
    # A later run adds a dataset; an existing plain model becomes a fine-tune when trained from a base.
    more = ds("s3://lake", "more")
    assert post_event(run_event("train.onco", [base, corpus, more], [out])).status_code == 201
    assert set(tuned.training_datasets.values_list("name", flat=True)) == {"corpus", "notes", "more"}


def test_existing_model_becomes_fine_tune(post_event, project, actor_context):
    base = catalog.create_asset("model", {"project": project, "namespace": "s3://models", "name": "base"})
    plain = catalog.create_asset("model", {"project": project, "namespace": "s3://models", "name": "plain"})
    assert post_event(run_event("train", [ds("s3://models", "base"), ds("s3://lake", "d")], [ds("s3://models", "plain")])).status_code == 201
    plain.refresh_from_db()
    assert plain.kind == "fine_tune" and plain.base_model == base


def test_facets_of_another_projects_asset_are_not_applied(post_event, other_project, actor_context, reference_data):
    theirs = catalog.create_asset("dataset", {"project": other_project, "namespace": "s3://bank", "name": "ledger"})
    response = post_event(run_event("etl.reads.bank", [ds("s3://bank", "ledger", tags=tags(classification="restricted"))], []))
    assert response.status_code == 201
    assert "may not change" in " ".join(response.json()["warnings"])
    theirs.refresh_from_db()
    assert theirs.classification == "internal"
    job = Job.objects.get(name="etl.reads.bank")
    assert Edge.objects.filter(src=theirs.pk, dst=-job.pk).exists()  # the lineage fact is still recorded
