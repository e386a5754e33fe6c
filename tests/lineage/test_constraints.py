"""Constraints flow down the graph: materialized, explained, kept current."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.models import Asset, Jurisdiction
from apps.catalog.reference import EU
from apps.lineage import constraints
from apps.lineage.constraints import intersect_purposes
from apps.lineage.models import Edge, EffectiveConstraint
from tests.lineage.conftest import ds, run_event

pytestmark = pytest.mark.django_db
MODEL = {"datasetType": {"datasetType": "MODEL"}}


def jur(code: str) -> Jurisdiction:
    return Jurisdiction.objects.get(code=code)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ({"research"}, {"research.medical"}, {"research.medical"}),
    ({"research.medical", "healthcare"}, {"research", "marketing"}, {"research.medical"}),
    ({"research"}, {"marketing"}, set()),
    (None, {"fraud_detection"}, {"fraud_detection"}),
    ({"research", "research.medical"}, None, {"research", "research.medical"}),
    (None, None, None),
])
def test_purpose_intersection_respects_the_hierarchy(a, b, expected):
    assert intersect_purposes(a, b) == expected


@pytest.fixture
def eu_flow(post_event, settle, project, actor_context):
    """patients (DE, processed in the EU, consent: research, EU) → prep.features → features (lake: IE,
    processed in the EEA and the US) → train.onco (+ base model llm-8b, US, processed in EEA/US/GB) → llm-8b-onco."""
    catalog.create_namespace_rule({"pattern": "s3://lake-*", "jurisdiction": jur("IE"), "processing_jurisdictions": ["EEA", "US"]})
    catalog.create_namespace_rule({"pattern": "s3://models-*", "jurisdiction": jur("US"), "processing_jurisdictions": ["EEA", "US", "GB"]})
    consent = catalog.create_consent({"project": project, "reference": "COHORT-7", "legal_basis": "consent", "purposes": ["research"],
                                      "jurisdiction_scope": ["EU"]})
    patients = catalog.create_asset("dataset", {"project": project, "namespace": "s3://hospital", "name": "patients", "contains_pii": True,
                                                "storage_jurisdiction": jur("DE"), "processing_jurisdictions": ["EU"], "consent": consent,
                                                "classification": "restricted"})
    with settle():
        assert post_event(run_event("prep.features", [ds("s3://hospital", "patients")], [ds("s3://lake-eu", "features")])).status_code == 201
    with settle():
        train = run_event("train.onco", [ds("s3://lake-eu", "features"), ds("s3://models-hub", "llm-8b", **MODEL)],
                          [ds("s3://models-hub", "llm-8b-onco", **MODEL)])
        assert post_event(train).status_code == 201
    return patients


def test_eu_only_research_only_data_flows_through_two_jobs_into_a_fine_tune(eu_flow):
    patients = eu_flow
    tuned = Asset.objects.get(name="llm-8b-onco")
    assert tuned.kind == "fine_tune" and tuned.base_model.name == "llm-8b"
    row = EffectiveConstraint.objects.get(asset=tuned)
    assert set(row.jurisdictions) == set(EU) and row.explanation["jurisdictions"]["display"] == ["EU"]
    assert row.purposes == ["research"] and not row.purposes_unrestricted
    assert row.classification == "restricted" and row.upstream_count == 3
    binding = [s["name"] for s in row.explanation["jurisdictions"]["sources"] if s["binding"]]
    assert binding == ["patients"]
    (purpose_source,) = row.explanation["purposes"]["sources"]
    assert purpose_source["name"] == "patients" and purpose_source["asset_id"] == patients.pk and purpose_source["depth"] == 3
    assert purpose_source["reason"] == "consent COHORT-7" and purpose_source["binding"]
    assert row.explanation["classification"]["source"]["name"] == "patients"
    # The feature table in between is EU-only and research-only too.
    features = EffectiveConstraint.objects.get(asset__name="features")
    assert set(features.jurisdictions) == set(EU) and features.purposes == ["research"]


def test_constraints_api(lineage_api, eu_flow):
    tuned = Asset.objects.get(name="llm-8b-onco")
    body = lineage_api.get(f"/api/v1/lineage/constraints/{tuned.pk}").json()
    assert body["jurisdictions_display"] == ["EU"] and body["purposes"] == ["research"] and body["classification"] == "restricted"
    assert body["explanation"]["purposes"]["sources"][0]["url"].startswith("/assets/")


def test_unknown_residency_upstream_is_never_allowed(post_event, settle, make_dataset):
    make_dataset(namespace="s3://known", name="known", storage_jurisdiction=jur("FR"))
    with settle():
        post_event(run_event("merge", [ds("s3://known", "known"), ds("s3://shadow", "export")], [ds("s3://known", "merged")]))
    merged = Asset.objects.get(name="merged")
    row = EffectiveConstraint.objects.get(asset=merged)
    assert row.jurisdictions == [] and "unknown_residency" in row.flags
    assert {u["name"] for u in row.explanation["jurisdictions"]["unknown"]} == {"export", "merged"}


def test_consent_withdrawal_reaches_everything_downstream(post_event, settle, project, make_dataset, actor_context):
    consent = catalog.create_consent({"project": project, "reference": "VOICE", "legal_basis": "consent", "purposes": ["product_improvement"]})
    make_dataset(namespace="s3://v", name="voice", storage_jurisdiction=jur("DE"), consent=consent, contains_pii=True)
    with settle():
        post_event(run_event("asr", [ds("s3://v", "voice")], [ds("s3://v", "transcripts")]))
    transcripts = Asset.objects.get(name="transcripts")
    assert EffectiveConstraint.objects.get(asset=transcripts).purposes == ["product_improvement"]
    with settle():
        catalog.withdraw_consent(consent, reason="The data subjects' association withdrew it.")
    row = EffectiveConstraint.objects.get(asset=transcripts)
    assert row.purposes == [] and not row.purposes_unrestricted and "consent_withdrawn" in row.flags
    flag = next(f for f in row.explanation["flags"] if f["code"] == "consent_withdrawn")
    assert flag["name"] == "voice" and flag["depth"] == 2


def test_expired_consent_and_personal_data_without_legal_basis(project, make_dataset, actor_context):
    past = catalog.create_consent({"project": project, "reference": "OLD", "legal_basis": "consent", "purposes": ["research"],
                                   "valid_from": timezone.now() - dt.timedelta(days=30), "valid_until": timezone.now() - dt.timedelta(days=1)})
    expired = make_dataset(name="expired", storage_jurisdiction=jur("DE"), consent=past)
    bare = make_dataset(name="bare", storage_jurisdiction=jur("DE"), contains_pii=True)
    public = make_dataset(name="public", storage_jurisdiction=jur("DE"))
    constraints.compute([expired.pk, bare.pk, public.pk])
    assert EffectiveConstraint.objects.get(asset=expired).flags == ["consent_expired"]
    assert EffectiveConstraint.objects.get(asset=bare).flags == ["no_legal_basis"]
    public_row = EffectiveConstraint.objects.get(asset=public)
    assert public_row.purposes_unrestricted and public_row.flags == [] and public_row.jurisdictions == ["DE"]


def test_catalog_edits_are_picked_up(post_event, settle, make_dataset):
    src = make_dataset(namespace="s3://s", name="src", storage_jurisdiction=jur("FR"))
    with settle():
        post_event(run_event("copy", [ds("s3://s", "src")], [ds("s3://s", "dst", tags={"tags": [{"key": "jurisdiction", "value": "FR"}]})]))
    dst = Asset.objects.get(name="dst")
    assert EffectiveConstraint.objects.get(asset=dst).jurisdictions == ["FR"]
    with settle():
        catalog.update_asset(Asset.objects.get(pk=src.pk), {"storage_jurisdiction": jur("US"), "processing_jurisdictions": ["US"],
                                                             "classification": "confidential"})
    row = EffectiveConstraint.objects.get(asset=dst)
    assert row.jurisdictions == [] and row.classification == "confidential"  # FR ∩ US is nowhere


def test_fine_tunes_inherit_through_catalog_links(settle, project, make_dataset, actor_context):
    corpus = make_dataset(name="corpus", storage_jurisdiction=jur("SA"))
    base = catalog.create_asset("model", {"project": project, "namespace": "s3://m", "name": "base", "storage_jurisdiction": jur("US"),
                                          "processing_jurisdictions": ["US", "SA"]})
    with settle():
        tuned = catalog.create_asset("fine_tune", {"project": project, "namespace": "s3://m", "name": "tuned", "base_model": base,
                                                   "storage_jurisdiction": jur("SA")}, training_datasets=[corpus])
    row = EffectiveConstraint.objects.get(asset=tuned)
    assert row.jurisdictions == ["SA"] and row.upstream_count == 2


def test_recompute_command_and_newest_computation_wins(post_event, make_dataset, capsys):
    make_dataset(namespace="s3://c", name="a", storage_jurisdiction=jur("DE"))
    post_event(run_event("j", [ds("s3://c", "a")], [ds("s3://c", "b")]))  # no settle: nothing computed yet
    b = Asset.objects.get(name="b")
    assert not EffectiveConstraint.objects.filter(asset=b).exists()
    call_command("recompute_constraints")
    assert "Recomputed the constraints of" in capsys.readouterr().out
    row = EffectiveConstraint.objects.get(asset=b)
    constraints.compute([b.pk], now=row.computed_at - dt.timedelta(minutes=5))  # an older, slower computation
    assert EffectiveConstraint.objects.get(asset=b).computed_at == row.computed_at
    call_command("recompute_constraints", asset=[Asset.objects.get(name="a").pk])


def test_deleting_an_asset_removes_its_edges_and_frees_what_was_downstream(post_event, settle, make_dataset):
    make_dataset(namespace="s3://d", name="kept", storage_jurisdiction=jur("DE"))
    make_dataset(namespace="s3://d", name="doomed")  # unknown residency
    with settle():
        out = ds("s3://d", "out", tags={"tags": [{"key": "jurisdiction", "value": "DE"}]})
        post_event(run_event("j", [ds("s3://d", "kept"), ds("s3://d", "doomed")], [out]))
    out = Asset.objects.get(name="out")
    assert EffectiveConstraint.objects.get(asset=out).jurisdictions == []
    doomed = Asset.objects.get(name="doomed")
    with settle():
        catalog.delete_asset(doomed)
    assert not Edge.objects.filter(src=doomed.pk).exists()
    assert EffectiveConstraint.objects.get(asset=out).jurisdictions == ["DE"]


def test_upstream_in_a_hidden_project_is_named_as_such(api, owner, other_project, post_event, settle, actor_context, reference_data):
    catalog.create_asset("dataset", {"project": other_project, "namespace": "s3://bank", "name": "ledger", "storage_jurisdiction": jur("FR")})
    with settle():
        post_event(run_event("j", [ds("s3://bank", "ledger")], [ds("s3://l", "mine", tags={"tags": [{"key": "jurisdiction", "value": "EU"}]})]))
    mine = Asset.objects.get(name="mine")
    body = api.as_user(owner).get(f"/api/v1/lineage/constraints/{mine.pk}").json()
    assert body["jurisdictions"] == ["FR"]
    hidden = [s for s in body["explanation"]["jurisdictions"]["sources"] if s.get("hidden")]
    assert len(hidden) == 1 and hidden[0]["asset_id"] is None and "ledger" not in str(body)
