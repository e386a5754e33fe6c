"""The demo scenario: a small sovereign AI factory that makes every page meaningful.

A German university hospital, a French bank and a Saudi ministry share a national AI platform.
Loaded idempotently (natural keys) through the same audited services as everything else."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Project, User
from apps.catalog import services as catalog
from apps.catalog.models import Asset, ConsentRecord, Jurisdiction, NamespaceRule
from apps.compute import services as compute
from apps.compute.models import ComputeCluster

PROJECTS = [
    ("demo", "Clinical AI (demo)", "Oncology decision support trained on hospital data under research consent."),
    ("fraud-ml", "Payment fraud models", "Transaction fraud detection for a French retail bank."),
    ("gov-arabic", "Arabic public-service assistant", "A ministry's citizen-service assistant, sovereign in KSA."),
]

PEOPLE = [  # username, first, last, org_role, {project: role}
    ("clara", "Clara", "Schmidt", "compliance_officer", {}),
    ("dana", "Dana", "Weber", "", {"demo": "data_steward", "fraud-ml": "data_steward"}),
    ("erik", "Erik", "Larsen", "", {"demo": "ml_engineer"}),
    ("farah", "Farah", "Al-Qahtani", "", {"gov-arabic": "ml_engineer"}),
    ("ines", "Inès", "Moreau", "", {"fraud-ml": "ml_engineer"}),
    ("aurel", "Aurel", "Novak", "auditor", {}),
    ("kai", "Kai", "Lindqvist", "compliance_officer", {}),  # approves what clara authors (separation of duties)
]

_CLEAN = {"name": "a clean job passes", "input": {}, "expect": []}
POLICIES = [  # slug, name, template, action, params, a violating test input
    ("residency", "Data stays where its law says", "residency", "deny", {},
     {"inputs": [{"name": "fr-only", "storage_jurisdiction": "FR", "effective": {"jurisdictions": ["FR"]}}]}),
    ("purpose", "Purpose limitation", "purpose", "deny", {},
     {"job": {"purpose": "marketing"}, "inputs": [{"name": "research-only",
                                                   "effective": {"purposes": ["research"], "purposes_unrestricted": False}}]}),
    ("consent", "Consent and legal basis hold", "consent", "deny", {},
     {"inputs": [{"name": "no-basis", "contains_pii": True}]}),
    ("classification", "Classification within the cluster's accreditation", "classification", "deny", {},
     {"inputs": [{"name": "secret", "effective": {"classification": "restricted"}}],
      "clusters": [{"id": 0, "name": "tier2", "jurisdiction": "DE", "security_tier": 2, "confidential_computing": False,
                    "price_per_gpu_hour": "1.00", "currency": "EUR", "gpu_count": 8, "enabled": True}]}),
    ("confidential-computing", "Restricted data only on attested clusters", "confidential_computing", "require_approval", {},
     {"inputs": [{"name": "secret", "effective": {"classification": "restricted"}}],
      "clusters": [{"id": 0, "name": "plain", "jurisdiction": "DE", "security_tier": 4, "confidential_computing": False,
                    "price_per_gpu_hour": "1.00", "currency": "EUR", "gpu_count": 8, "enabled": True}]}),
    ("trusted-images", "Images pinned by digest from our registry", "trusted_images", "deny",
     {"allowed_registries": ["registry.govhub.local"], "require_digest": True},
     {"job": {"image": "registry.govhub.local/train:latest"}}),
    ("budget", "Within the project budget", "budget", "deny", {},
     {"job": {"gpus": 8, "estimated_hours": 100.0}, "project": {"budget": {"remaining": "10", "currency": "EUR"}}}),
    ("gpu-quota", "GPU quota per project", "gpu_quota", "deny", {"default_max_gpus": 64},
     {"job": {"gpus": 8}, "project": {"active_gpus": 60}}),
    ("evaluation-gate", "Serve only evaluated models", "evaluation_gate", "deny", {}, None),
]

BUDGETS = {"demo": "25000", "fraud-ml": "8000", "gov-arabic": "40000"}  # EUR per period

NAMESPACE_RULES = [  # pattern, jurisdiction, processing, description
    ("s3://acme-eu-*", "EU", ["EU"], "ACME object storage, EU regions"),
    ("s3://charite-*", "DE", ["DE"], "Hospital storage in Berlin"),
    ("postgres://db.fra.internal:5432", "DE", ["DE", "FR"], "Core banking replica in Frankfurt"),
    ("gs://riyadh-*", "SA", ["SA"], "Ministry storage in Riyadh"),
    ("hdfs://mumbai-*", "IN", ["IN"], "Speech lake in Mumbai"),
    ("s3://acme-us-*", "US", ["US"], "ACME US regions"),
    ("s3://paris-*", "FR", ["FR", "EU"], "Paris region"),
]

CLUSTERS = [  # name, display, scheduler, jurisdiction, region, tier, cc, gpu, count, price, currency, watts, carbon
    ("local", "Local runner (demo)", "local", "DE", "on-host", 2, False, "CPU (demo)", 4, "0.00", "EUR", 50, 350),
    ("fra-h100", "Frankfurt H100 (sovereign)", "slurm", "DE", "eu-central-fra", 4, True, "NVIDIA H100 SXM", 64, "2.9000", "EUR", 700, 350),
    ("paris-a100", "Paris A100", "kubernetes", "FR", "eu-west-par", 3, False, "NVIDIA A100 80GB", 32, "1.8000", "EUR", 400, 60),
    ("riyadh-h200", "Riyadh H200", "slurm", "SA", "me-central-ruh", 4, True, "NVIDIA H200", 128, "3.1000", "EUR", 700, 550),
    ("mumbai-l40s", "Mumbai L40S", "kubernetes", "IN", "ap-south-bom", 2, False, "NVIDIA L40S", 16, "0.9000", "EUR", 350, 700),
    ("virginia-h100", "US East H100 (public cloud)", "kubernetes", "US", "us-east-1", 2, False, "NVIDIA H100 PCIe", 256, "2.1000", "EUR", 350, 380),
]


def _consents(now: dt.datetime) -> list[dict]:
    return [
        {"project": "demo", "reference": "CHARITE-ONCO-2025/117", "legal_basis": "consent",
         "purposes": ["research.medical"], "jurisdiction_scope": ["EU"],
         "data_subject_categories": ["patients"], "personal_data_categories": ["health", "imaging"],
         "controller": "Universitätsklinikum Berlin", "valid_from": now - dt.timedelta(days=400),
         "valid_until": now + dt.timedelta(days=900), "notes": "Broad consent for oncology research only."},
        {"project": "demo", "reference": "CHARITE-TRIAGE-2024/022", "legal_basis": "consent",
         "purposes": ["healthcare.diagnosis", "research.medical"], "jurisdiction_scope": ["DE"],
         "data_subject_categories": ["patients"], "personal_data_categories": ["health"],
         "controller": "Universitätsklinikum Berlin", "valid_from": now - dt.timedelta(days=700),
         "valid_until": now + dt.timedelta(days=18), "notes": "Renewal pending with the ethics board."},
        {"project": "demo", "reference": "VOICE-PILOT-2023", "legal_basis": "consent",
         "purposes": ["product_improvement"], "jurisdiction_scope": ["EU"],
         "data_subject_categories": ["patients"], "personal_data_categories": ["voice"],
         "controller": "Universitätsklinikum Berlin", "valid_from": now - dt.timedelta(days=900),
         "valid_until": now + dt.timedelta(days=200), "withdraw": "Data subjects' association withdrew consent for the pilot."},
        {"project": "demo", "reference": "WIKI-FR-CC-BY-SA", "legal_basis": "legitimate_interests",
         "purposes": ["research", "product_improvement"], "jurisdiction_scope": ["EU"],
         "data_subject_categories": ["article authors"], "personal_data_categories": ["usernames"],
         "controller": "Universitätsklinikum Berlin", "valid_from": now - dt.timedelta(days=100), "valid_until": None,
         "notes": "Public CC BY-SA text; legitimate-interest assessment LIA-2026-04."},
        {"project": "fraud-ml", "reference": "BANK-ART6-1C-AML", "legal_basis": "legal_obligation",
         "purposes": ["fraud_detection"], "jurisdiction_scope": ["EU"],
         "data_subject_categories": ["customers"], "personal_data_categories": ["financial", "identifiers"],
         "controller": "Banque Exemple SA", "valid_from": now - dt.timedelta(days=1000), "valid_until": None,
         "notes": "AML/CFT obligations (Directive (EU) 2015/849)."},
        {"project": "gov-arabic", "reference": "MOI-PUBLIC-TASK-7", "legal_basis": "public_task",
         "purposes": ["public_service"], "jurisdiction_scope": ["SA"],
         "data_subject_categories": ["citizens"], "personal_data_categories": ["contact", "case records"],
         "controller": "Ministry (demo)", "valid_from": now - dt.timedelta(days=200), "valid_until": now + dt.timedelta(days=1500)},
    ]


DATASETS = [  # project, namespace, name, classification, pii, consent ref or None, tags, description, declared residency
    ("demo", "s3://charite-onco", "oncology-imaging-2025", "restricted", True, "CHARITE-ONCO-2025/117",
     ["oncology", "imaging"], "CT and MRI studies with pathology reports. EU-only, research-only.", ("DE", ["EU"])),
    ("demo", "s3://charite-triage", "er-triage-notes", "confidential", True, "CHARITE-TRIAGE-2024/022",
     ["triage", "text"], "Emergency-room triage notes; consent expires soon.", None),
    ("demo", "s3://acme-eu-voice", "voice-pilot-recordings", "confidential", True, "VOICE-PILOT-2023",
     ["voice"], "Voice recordings from a 2023 pilot. Consent withdrawn.", None),
    ("demo", "s3://paris-public", "wikipedia-fr-2026", "public", False, "WIKI-FR-CC-BY-SA",
     ["public", "text"], "French Wikipedia dump (CC BY-SA).", None),
    ("demo", "s3://shadow-exports", "export-2026-03", "internal", True, None,
     ["unreviewed"], "Found by a scan; nobody has said where it may be processed.", None),
    ("fraud-ml", "postgres://db.fra.internal:5432", "payments.transactions", "restricted", True, "BANK-ART6-1C-AML",
     ["payments"], "Card and SEPA transactions, 24 months.", None),
    ("gov-arabic", "gs://riyadh-corpus", "citizen-requests-ar", "confidential", True, "MOI-PUBLIC-TASK-7",
     ["arabic", "text"], "Citizen service requests, anonymised.", None),
    ("gov-arabic", "hdfs://mumbai-speech", "hindi-speech-commands", "internal", False, None,
     ["speech"], "Licensed speech commands corpus.", None),
]

MODELS = [  # project, namespace, name, classification, base or None, training, description
    ("demo", "s3://acme-eu-models", "sovereign-llm-8b", "internal", None, [], "Open-weights base model, mirrored in the EU."),
    ("gov-arabic", "gs://riyadh-models", "falcon-ar-7b", "internal", None, [], "Arabic base model, mirrored in KSA."),
    ("demo", "s3://charite-models", "onco-assist-8b", "restricted", "sovereign-llm-8b", ["oncology-imaging-2025"],
     "Fine-tune for oncology report drafting (research only)."),
    ("demo", "s3://charite-models", "triage-assist-8b", "confidential", "sovereign-llm-8b", ["er-triage-notes"],
     "Fine-tune for triage summarisation."),
    ("gov-arabic", "gs://riyadh-models", "citizen-assist-ar", "confidential", "falcon-ar-7b", ["citizen-requests-ar"],
     "Fine-tune answering citizen requests."),
]


def load_demo(demo_password: str | None) -> dict[str, int]:
    """Create whatever of the scenario is missing. Returns counts of created objects."""
    created = {"projects": 0, "people": 0, "rules": 0, "clusters": 0, "consents": 0, "assets": 0, "service_accounts": 0,
               "policies": 0, "budgets": 0, "jobs": 0}
    now = timezone.now()
    with transaction.atomic():
        projects = {}
        for slug, name, desc in PROJECTS:
            projects[slug] = Project.objects.filter(slug=slug).first()
            if projects[slug] is None:
                projects[slug] = accounts.create_project({"slug": slug, "name": name, "description": desc})
                created["projects"] += 1
        people = {}
        for username, first, last, org_role, roles in PEOPLE:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = accounts.create_person(username, email=f"{username}@demo.govhub.local", password=demo_password,
                                              org_role=org_role, first_name=first, last_name=last)
                created["people"] += 1
            for slug, role in roles.items():
                accounts.set_membership(user, projects[slug], role)
            people[username] = user
        for pattern, jur, processing, desc in NAMESPACE_RULES:
            if not NamespaceRule.objects.filter(pattern=pattern).exists():
                catalog.create_namespace_rule({"pattern": pattern, "jurisdiction": Jurisdiction.objects.get(code=jur),
                                               "processing_jurisdictions": processing, "description": desc})
                created["rules"] += 1
        for name, display, sched, jur, region, tier, cc, gpu, count, price, cur, watts, carbon in CLUSTERS:
            if not ComputeCluster.objects.filter(name=name).exists():
                compute.create_cluster({
                    "name": name, "display_name": display, "scheduler": sched, "jurisdiction": Jurisdiction.objects.get(code=jur),
                    "region": region, "security_tier": tier, "confidential_computing": cc, "gpu_model": gpu, "gpu_count": count,
                    "price_per_gpu_hour": Decimal(price), "currency": cur, "power_per_gpu_watts": watts,
                    "carbon_intensity_g_per_kwh": carbon,
                })
                created["clusters"] += 1
        consents = {}
        for spec in _consents(now):
            spec = dict(spec)
            withdraw = spec.pop("withdraw", None)
            consent = ConsentRecord.objects.filter(reference=spec["reference"]).first()
            if consent is None:
                consent = catalog.create_consent({**spec, "project": projects[spec["project"]]})
                created["consents"] += 1
                if withdraw:
                    consent = catalog.withdraw_consent(consent, reason=withdraw, at=now - dt.timedelta(days=3))
            consents[spec["reference"]] = consent
        assets = {}
        for slug, ns, name, cls, pii, consent_ref, tags, desc, declared in DATASETS:
            asset = Asset.objects.filter(namespace=ns, name=name).first()
            if asset is None:
                fields = {"project": projects[slug], "namespace": ns, "name": name, "classification": cls,
                          "contains_pii": pii, "tags": tags, "description": desc, "owner": people["dana"] if slug != "gov-arabic" else people["farah"],
                          "consent": consents.get(consent_ref) if consent_ref else None}
                if declared:
                    fields["storage_jurisdiction"] = Jurisdiction.objects.get(code=declared[0])
                    fields["processing_jurisdictions"] = declared[1]
                asset = catalog.create_asset("dataset", fields)
                catalog.create_dataset_version(asset, {"version": "2026-01", "description": "Initial snapshot"})
                created["assets"] += 1
            assets[name] = asset
        for slug, ns, name, cls, base, training, desc in MODELS:
            asset = Asset.objects.filter(namespace=ns, name=name).first()
            if asset is None:
                kind = "fine_tune" if base else "model"
                fields = {"project": projects[slug], "namespace": ns, "name": name, "classification": cls,
                          "description": desc, "owner": people["erik"] if slug == "demo" else people["farah"],
                          "base_model": assets.get(base) if base else None}
                asset = catalog.create_asset(kind, fields, training_datasets=[assets[t] for t in training])
                created["assets"] += 1
            assets[name] = asset
        _policies(people["clara"], people["kai"], created)
        _budgets(projects, created)
        pipeline = User.objects.filter(username="demo-pipeline").first()
        if pipeline is None:
            pipeline = accounts.create_service_account("demo-pipeline", owner=people["erik"], project=projects["demo"],
                                                       description="Training pipeline of the clinical AI project (Airflow).")
            created["service_accounts"] += 1
        _jobs(pipeline, assets, created)
    return created


def _policies(author: User, approver: User, created: dict[str, int]) -> None:
    """One active version per built-in template, authored by one compliance officer and
    activated by another (the same lifecycle a real policy goes through)."""
    from apps.policy.models import Policy
    from apps.policy.services import versions

    for slug, name, template, action, params, violating in POLICIES:
        if Policy.objects.filter(slug=slug).exists():
            continue
        tests = [_CLEAN] + ([{"name": "a violating job is caught", "input": violating, "expect": [{}]}] if violating else [])
        version = versions.create_policy(author, {"slug": slug, "name": name, "template": template,
                                                  "description": f"Demo baseline: {name.lower()}."},
                                         {"action": action, "params": {**versions._defaults(template)["params"], **params},
                                          "tests": tests})
        versions.submit_for_review(version, author)
        versions.activate(version.__class__.objects.get(pk=version.pk), approver, note="demo baseline")
        created["policies"] = created.get("policies", 0) + 1


def _budgets(projects: dict[str, Project], created: dict[str, int]) -> None:
    from apps.dispatch.usage import set_budget
    from apps.policy.models import Budget

    for slug, amount in BUDGETS.items():
        if not Budget.objects.filter(project=projects[slug]).exists():
            set_budget(projects[slug], amount=Decimal(amount), currency="EUR", max_concurrent_gpus=64)
            created["budgets"] = created.get("budgets", 0) + 1


IMAGE = "registry.govhub.local/train@sha256:" + "3f" * 32


def _jobs(pipeline: User, assets: dict[str, Asset], created: dict[str, int]) -> None:
    """Three submissions the worker decides when `make run` starts: one that runs on the local
    runner, one denied for leaving the EU, one that breaks five rules at once."""
    from apps.jobs.services import submit_job

    clusters = {c.name: c for c in ComputeCluster.objects.all()}
    specs = {
        "demo-local-smoke": {
            "kind": "training", "purpose": "research.scientific", "target_cluster": clusters["local"],
            "inputs": [{"asset": assets["wikipedia-fr-2026"]}], "output_name": "wiki-fr-smoke", "image": IMAGE,
            "gpus": 1, "estimated_hours": "0.25",
            "command": ["python3", "-c", "import time\nfor step in range(30):\n    print('step', step, flush=True); time.sleep(1)"]},
        "demo-onco-us": {
            "kind": "fine_tuning", "purpose": "research.medical", "target_cluster": clusters["virginia-h100"],
            "inputs": [{"asset": assets["oncology-imaging-2025"]}, {"asset": assets["sovereign-llm-8b"]}],
            "output_name": "onco-assist-9b-us", "image": IMAGE, "gpus": 8, "estimated_hours": "12"},
        "demo-ads-from-withdrawn-data": {
            "kind": "training", "purpose": "marketing", "target_cluster": None,
            "inputs": [{"asset": assets["voice-pilot-recordings"]}, {"asset": assets["export-2026-03"]}],
            "output_name": "ads-model", "image": "docker.io/someone/trainer:latest", "gpus": 4, "estimated_hours": "5"},
    }
    from apps.jobs.models import Job

    for key, spec in specs.items():
        if Job.objects.filter(requested_by=pipeline, idempotency_key=key).exists():
            continue
        submit_job(pipeline, {**spec, "project": pipeline.service_project}, idempotency_key=key)
        created["jobs"] = created.get("jobs", 0) + 1
