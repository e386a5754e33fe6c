"""Every rule template, judged through the real admission path (facts from PostgreSQL, the decision
row written, the job moved): an allowing job and a violating one each; then five rules at once, and
a fine-tune that inherits the EU-only restriction of its base model's training data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.models import Jurisdiction
from tests.policy.fixtures import admit

pytestmark = pytest.mark.django_db


def jur(code):
    return Jurisdiction.objects.get(code=code)


def violations(job, policy=None):
    found = job.last_decision.violations
    return [v for v in found if policy is None or v["policy"] == policy]


def test_residency(publish, clusters, budget, eu_dataset, submit):
    publish("residency")
    ok = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
    assert ok.state == "approved" and ok.cluster == clusters["fra"] and not violations(ok)
    bad = admit(submit([eu_dataset], target_cluster=clusters["tokyo"]))
    assert bad.state == "denied"
    [v] = violations(bad, "residency")
    assert v["asset"] == "eu-patients" and "may be processed only in EU" in v["message"] and "tokyo-h100 is in JP" in v["message"]


def test_residency_needs_a_transfer_basis_outside_the_storage_jurisdiction(publish, clusters, budget, make_dataset, consent, submit):
    from apps.compute import services as compute

    publish("residency")
    declared_jp = make_dataset(name="jp-ok", storage_jurisdiction=jur("DE"), processing_jurisdictions=["EU", "JP"])
    ok = admit(submit([declared_jp], target_cluster=clusters["tokyo"]))
    assert ok.state == "approved", ok.state_reason  # EU → JP: adequacy decision
    mumbai = compute.create_cluster({"name": "mumbai-l40s", "jurisdiction": jur("IN"), "security_tier": 3, "gpu_count": 16,
                                     "price_per_gpu_hour": Decimal("0.9")})
    declared_in = make_dataset(name="in-too", storage_jurisdiction=jur("DE"), processing_jurisdictions=["EU", "IN"])
    bad = admit(submit([declared_in], target_cluster=mumbai))
    [v] = violations(bad, "residency")
    assert bad.state == "denied" and "from DE to IN" in v["message"] and "no transfer rule" in v["message"]


def test_unknown_residency_is_never_allowed(publish, clusters, budget, make_dataset, submit):
    publish("residency")
    unknown = make_dataset(name="shadow-export", namespace="s3://nobody-knows")
    bad = admit(submit([unknown], target_cluster=clusters["fra"]))
    [v] = violations(bad, "residency")
    assert bad.state == "denied" and "residency is unknown" in v["message"]


def test_purpose(publish, clusters, budget, eu_dataset, submit):
    publish("purpose")
    ok = admit(submit([eu_dataset], target_cluster=clusters["fra"], purpose="research.medical"))
    assert ok.state == "approved", ok.state_reason  # research covers research.medical
    bad = admit(submit([eu_dataset], target_cluster=clusters["fra"], purpose="marketing"))
    [v] = violations(bad, "purpose")
    assert bad.state == "denied" and v["asset"] == "eu-patients" and "may be used only for research" in v["message"]


def test_consent(publish, clusters, budget, eu_dataset, make_dataset, consent, submit):
    publish("consent")
    assert admit(submit([eu_dataset], target_cluster=clusters["fra"])).state == "approved"
    withdrawn = make_dataset(name="voice", contains_pii=True, consent=consent("VOICE-1"))
    catalog.withdraw_consent(withdrawn.consent, reason="The data subjects' association withdrew it.")
    no_basis = make_dataset(name="export", contains_pii=True)
    bad = admit(submit([withdrawn, no_basis], target_cluster=clusters["fra"]))
    found = {v["asset"]: v["message"] for v in violations(bad, "consent")}
    assert bad.state == "denied"
    assert "VOICE-1" in found["voice"] and "withdrawn" in found["voice"]
    assert "unknown counts as a violation" in found["export"]


def test_consent_expired_since_the_constraints_were_computed(publish, clusters, budget, make_dataset, consent, submit):
    publish("consent")
    record = consent("SHORT", until_days=1)
    data = make_dataset(name="short-lived", contains_pii=True, consent=record)
    from apps.catalog.models import ConsentRecord

    ConsentRecord.objects.filter(pk=record.pk).update(valid_until=timezone.now() - dt.timedelta(minutes=1))
    bad = admit(submit([data], target_cluster=clusters["fra"]))
    assert bad.state == "denied" and "expired" in violations(bad, "consent")[0]["message"]


def test_classification(publish, clusters, budget, eu_dataset, submit):
    publish("classification")
    assert admit(submit([eu_dataset], target_cluster=clusters["paris"])).state == "approved"  # confidential on tier 3
    bad = admit(submit([eu_dataset], target_cluster=clusters["virginia"]))
    [v] = violations(bad, "classification")
    assert bad.state == "denied" and "is confidential" in v["message"] and "tier 2" in v["message"]


def test_confidential_computing(publish, clusters, budget, make_dataset, submit):
    publish("confidential_computing", params={"classifications": ["restricted"]})
    secret = make_dataset(name="genomes", classification="restricted")
    assert admit(submit([secret], target_cluster=clusters["fra"])).state == "approved"
    bad = admit(submit([secret], target_cluster=clusters["paris"]))
    [v] = violations(bad, "confidential-computing")
    assert bad.state == "denied" and v["asset"] == "genomes" and "needs confidential computing" in v["message"]


def test_trusted_images(publish, clusters, budget, eu_dataset, submit):
    publish("trusted_images", params={"allowed_registries": ["registry.govhub.local"], "require_digest": True})
    assert admit(submit([eu_dataset], target_cluster=clusters["fra"])).state == "approved"
    bad = admit(submit([eu_dataset], target_cluster=clusters["fra"], image="docker.io/someone/trainer:latest"))
    messages = [v["message"] for v in violations(bad, "trusted-images")]
    assert bad.state == "denied" and len(messages) == 2
    assert any("not pinned by a sha256 digest" in m for m in messages) and any("allowed registry" in m for m in messages)


def test_budget(publish, clusters, budget, eu_dataset, submit):
    publish("budget")
    ok = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
    assert ok.state == "approved" and ok.estimated_cost == Decimal("58.00")  # 2 GPUs × 10 h × 2.90
    bad = admit(submit([eu_dataset], target_cluster=clusters["fra"], gpus=64, estimated_hours=Decimal("100")))
    [v] = violations(bad, "budget")
    # The approved job's 58.00 is committed: 10000 - 58 remain.
    assert bad.state == "denied" and "18560.00 EUR" in v["message"] and "9942.00 EUR" in v["message"]


def test_budget_missing_is_a_missing_fact_and_denies(publish, clusters, eu_dataset, submit):
    publish("budget")
    bad = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
    [v] = violations(bad, "budget")
    assert bad.state == "denied" and v["kind"] == "missing_fact" and "has no budget" in v["message"]


def test_gpu_quota(publish, clusters, budget, eu_dataset, submit):
    publish("gpu_quota", params={"default_max_gpus": 64, "project_max_gpus": {"health": 8}})
    first = admit(submit([eu_dataset], target_cluster=clusters["fra"], gpus=6))
    assert first.state == "approved"
    bad = admit(submit([eu_dataset], target_cluster=clusters["fra"], gpus=4))
    [v] = violations(bad, "gpu-quota")
    assert bad.state == "denied" and "10 GPUs at once (6 already approved or running + 4" in v["message"]


def test_evaluation_gate(publish, clusters, budget, project, member, compliance, actor_context, submit):
    from apps.policy.services import reference

    publish("evaluation_gate")
    model = catalog.create_asset("model", {"project": project, "namespace": "s3://models", "name": "assistant-8b",
                                           "storage_jurisdiction": jur("DE"), "processing_jurisdictions": ["EU"]})
    bad = admit(submit([model], kind="inference", target_cluster=clusters["fra"], serving_jurisdiction="DE"))
    [v] = violations(bad, "evaluation-gate")
    assert bad.state == "denied" and v["asset"] == "assistant-8b" and "no approved evaluation in de for serving in DE" in v["message"]
    evaluation = reference.record_evaluation(member, {"model": model, "language": "de", "jurisdictions": ["EU"]})
    reference.decide_evaluation(evaluation, compliance, approve=True)
    assert admit(submit([model], kind="inference", target_cluster=clusters["fra"], serving_jurisdiction="DE")).state == "approved"
    # Served in Saudi Arabia it needs an Arabic evaluation.
    assert violations(admit(submit([model], kind="inference", target_cluster=clusters["fra"], serving_jurisdiction="SA")),
                      "evaluation-gate")[0]["message"].endswith("no approved evaluation in ar for serving in SA.")


def test_one_job_violating_five_rules_lists_all_five_with_their_assets(baseline, clusters, budget, make_dataset, consent, submit):
    eu = make_dataset(name="eu-claims", classification="confidential", storage_jurisdiction=jur("DE"),
                      processing_jurisdictions=["EU"], contains_pii=True, consent=consent("CLAIMS-1"))
    voice = make_dataset(name="voice-pilot", storage_jurisdiction=jur("US"), processing_jurisdictions=["US"], contains_pii=True,
                         consent=consent("VOICE-2", scope=()))
    catalog.withdraw_consent(voice.consent, reason="Withdrawn by the data subjects.")
    job = admit(submit([eu, voice], target_cluster=clusters["virginia"], purpose="marketing",
                       image="docker.io/someone/trainer:latest"))
    assert job.state == "denied"
    found = violations(job)
    by_policy = {}
    for v in found:
        by_policy.setdefault(v["policy"], set()).add(v["asset"])
    assert set(by_policy) == {"residency", "purpose", "consent", "classification", "trusted-images"}, found
    assert by_policy["residency"] == {"eu-claims"}
    assert by_policy["purpose"] == {"eu-claims", "voice-pilot"}
    assert by_policy["consent"] == {"voice-pilot"}
    assert by_policy["classification"] == {"eu-claims"}
    assert by_policy["trusted-images"] == {None}  # about the job's image, not an input
    assert all(v["version"] == 1 and v["action"] == "deny" for v in found)
    assert {p["policy"] for p in job.last_decision.policy_set} >= set(by_policy)


def test_fine_tune_of_a_base_model_trained_on_eu_only_data_is_denied_outside_the_eu(publish, clusters, budget, project,
                                                                                    make_dataset, submit):
    publish("residency")
    eu_only = make_dataset(name="oncology-imaging-2025", namespace="s3://charite-onco", storage_jurisdiction=jur("DE"),
                           processing_jurisdictions=["EU"])
    base = catalog.create_asset("model", {"project": project, "namespace": "s3://acme-models", "name": "sovereign-llm-8b",
                                          "storage_jurisdiction": jur("US"), "processing_jurisdictions": ["US", "EU"]},
                                training_datasets=[eu_only])
    tuned = catalog.create_asset("fine_tune", {"project": project, "namespace": "s3://acme-models", "name": "onco-assist-8b",
                                               "base_model": base, "storage_jurisdiction": jur("DE"),
                                               "processing_jurisdictions": ["US", "EU"]})
    job = admit(submit([tuned], kind="inference", target_cluster=clusters["virginia"], serving_jurisdiction="US"))
    assert job.state == "denied"
    [v] = violations(job, "residency")
    assert v["asset"] == "onco-assist-8b" and v["upstream"] == "oncology-imaging-2025" and v["upstream_id"] == eu_only.pk
    assert "inherited from upstream dataset s3://charite-onco/oncology-imaging-2025" in v["message"]
    assert admit(submit([tuned], kind="inference", target_cluster=clusters["fra"])).state == "approved"


def test_any_cluster_picks_the_cheapest_that_passes_and_says_why_others_were_rejected(baseline, clusters, budget, eu_dataset, submit):
    job = admit(submit([eu_dataset]))
    assert job.state == "approved" and job.cluster == clusters["paris"]  # 1.80 €/h; virginia is cheaper but not allowed
    rejected = {r["cluster"]: r for r in job.last_decision.rejected_clusters}
    assert {v["policy"] for v in rejected["virginia-h100"]["reasons"]} == {"residency", "classification"}
    assert {v["policy"] for v in rejected["tokyo-h100"]["reasons"]} == {"residency"}
    assert rejected["fra-h100"]["reasons"] == []  # allowed, just dearer
    assert "cheapest allowed of 4 candidates" in job.state_reason
