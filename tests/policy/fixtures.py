"""Fixtures for policy tests: clusters in and outside the EU, a budget, datasets with consent, and
a helper that publishes a policy through the real lifecycle (draft → review → active, tests run,
approver ≠ author)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.govhub.local/ml/train@{DIGEST}"
SMOKE_TEST = [{"name": "nothing to object to", "input": {}, "expect": []}]


@pytest.fixture
def policy_reference(reference_data):
    """Transfer rules and languages (loaded by migration; reloaded after a transactional flush)."""
    from apps.catalog.models import Jurisdiction
    from apps.policy import cache
    from apps.policy.models import JurisdictionLanguage, TransferRule
    from apps.policy.reference import load

    if not TransferRule.objects.exists():
        load(TransferRule, JurisdictionLanguage, Jurisdiction)
    cache.clear_local()


@pytest.fixture
def clusters(policy_reference, actor_context):
    from apps.catalog.models import Jurisdiction
    from apps.compute import services

    def make(name, jur, tier, cc, price, gpus=64):
        return services.create_cluster({"name": name, "jurisdiction": Jurisdiction.objects.get(code=jur), "security_tier": tier,
                                        "confidential_computing": cc, "price_per_gpu_hour": Decimal(price), "gpu_count": gpus,
                                        "currency": "EUR"})

    return {"fra": make("fra-h100", "DE", 4, True, "2.90"), "paris": make("paris-a100", "FR", 3, False, "1.80"),
            "virginia": make("virginia-h100", "US", 2, False, "1.20"), "tokyo": make("tokyo-h100", "JP", 3, False, "2.50")}


@pytest.fixture
def budget(project, actor_context):
    from apps.policy.services.reference import set_budget

    return set_budget(project, Decimal("10000.00"), "EUR")


@pytest.fixture
def second_officer(db, actor_context):
    from apps.accounts import services

    return services.create_person("carla", password="correct-horse-battery", org_role="compliance_officer")


@pytest.fixture
def publish(compliance, second_officer, actor_context):
    """publish(template, slug=None, action="deny", params=None, scope=None, rego_source=None, tests=None) → active version."""
    from apps.policy import services

    def go(template, slug=None, action="deny", params=None, scope=None, rego_source=None, tests=None):
        content = {"action": action, "scope": scope or {}, "tests": SMOKE_TEST if tests is None else tests}
        if params is not None:
            content["params"] = params
        if rego_source is not None:
            content["rego_source"] = rego_source
        version = services.create_policy(compliance, {"slug": slug or template.replace("_", "-"), "name": slug or template,
                                                      "template": template}, content)
        version = services.submit_for_review(version, compliance)
        return services.activate(version, second_officer)

    return go


@pytest.fixture
def baseline(publish):
    """Every built-in template active with its defaults (registry: registry.govhub.local)."""
    return {t: publish(t) for t in ("residency", "purpose", "consent", "classification", "confidential_computing",
                                     "trusted_images", "budget", "gpu_quota", "evaluation_gate")}


@pytest.fixture
def consent(project, actor_context, reference_data):
    from apps.catalog import services

    def make(reference="C-1", purposes=("research",), scope=("EU",), basis="consent", until_days=365):
        now = timezone.now()
        return services.create_consent({"project": project, "reference": reference, "legal_basis": basis,
                                        "purposes": list(purposes), "jurisdiction_scope": list(scope),
                                        "valid_from": now - dt.timedelta(days=10),
                                        "valid_until": now + dt.timedelta(days=until_days) if until_days else None})

    return make


@pytest.fixture
def eu_dataset(make_dataset, consent):
    from apps.catalog.models import Jurisdiction

    return make_dataset(name="eu-patients", namespace="s3://charite-onco", classification="confidential", contains_pii=True,
                        storage_jurisdiction=Jurisdiction.objects.get(code="DE"), processing_jurisdictions=["EU"],
                        consent=consent())


@pytest.fixture
def submit(member, actor_context):
    """submit(inputs=[asset, ...], **job fields) → Job, through the real service (as the ML engineer)."""
    from apps.jobs import services

    def go(inputs, **fields):
        data = {"kind": "training", "project": member.memberships.first().project, "purpose": "research",
                "image": IMAGE, "gpus": 2, "estimated_hours": Decimal("10"), **fields,
                "inputs": [i if isinstance(i, dict) else {"asset": i} for i in inputs]}
        job, _ = services.submit_job(member, data)
        return job

    return go


def admit(job):  # noqa: D103 - a helper, not a fixture
    from apps.jobs.models import Job
    from apps.policy.services import admit as run

    run(job.pk)
    return Job.objects.select_related("last_decision").get(pk=job.pk)
