"""Rule templates about how a job runs: trusted images, budget, GPU quota, and the evaluation
gate for serving a model in a jurisdiction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError

from .base import Facts, Finding, Param, Rule, Template, asset_label

DIGEST = re.compile(r"^(?P<name>[^@\s]+)@sha256:[0-9a-f]{64}$")


class TrustedImages(Template):
    key = "trusted_images"
    label = "Trusted container images"
    description = "The container image must be pinned by sha256 digest and come from an allowed registry."
    params = (
        Param("allowed_registries", "list", ["registry.govhub.local"], "Allowed registries",
              "Registry hosts or path prefixes, e.g. registry.govhub.local or ghcr.io/acme."),
        Param("require_digest", "bool", True, "Require a sha256 digest"),
    )

    def validate(self, params: dict) -> None:
        if not params["allowed_registries"]:
            raise ValidationError({"params.allowed_registries": "Name at least one registry."})

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        image = facts.job.get("image") or ""
        match = DIGEST.match(image)
        if rule.params.get("require_digest", True) and match is None:
            yield Finding(f"Image {image or '(none)'} is not pinned by a sha256 digest (write name@sha256:<64 hex>).")
        name = match.group("name") if match else image.split("@", 1)[0]
        registries = rule.params.get("allowed_registries") or []
        if not any(name == r.rstrip("/") or name.startswith(r.rstrip("/") + "/") for r in registries):
            yield Finding(f"Image {image or '(none)'} does not come from an allowed registry ({', '.join(registries)}).")


class Budget(Template):
    key = "budget"
    label = "Project budget"
    description = "Estimated GPU-hours × the cluster's price must fit in the project's remaining budget."
    params = (Param("max_job_cost", "decimal", "0", "Maximum cost of one job", "0: no limit per job."),)
    cluster_dependent = True

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        if cluster is None:
            return
        cost = facts.job_cost(cluster)
        how = f"{facts.job.get('gpus')} GPUs × {facts.job.get('estimated_hours')} h × {cluster['price_per_gpu_hour']} on {cluster['name']}"
        budget = facts.project.get("budget")
        if budget is None:
            yield Finding(f"Project {facts.job.get('project')} has no budget, so the cost of the job cannot be checked.",
                          kind="missing_fact")
            return
        if budget["currency"] != cluster["currency"]:
            yield Finding(f"Cluster {cluster['name']} is priced in {cluster['currency']} but the budget of project "
                          f"{facts.job.get('project')} is in {budget['currency']}.", kind="missing_fact")
            return
        remaining = Decimal(budget["remaining"])
        if cost > remaining:
            yield Finding(f"Estimated cost {cost} {budget['currency']} ({how}) exceeds the remaining budget of project "
                          f"{facts.job.get('project')}, {remaining} {budget['currency']}.")
        limit = Decimal(str(rule.params.get("max_job_cost") or "0"))
        if limit and cost > limit:
            yield Finding(f"Estimated cost {cost} {budget['currency']} ({how}) exceeds the per-job limit of {limit}.")


class GpuQuota(Template):
    key = "gpu_quota"
    label = "GPU quota per project"
    description = "GPUs of the project's jobs approved or active on clusters, plus this job's, must stay within the quota."
    params = (
        Param("default_max_gpus", "int", 64, "Default quota (GPUs)"),
        Param("project_max_gpus", "mapping", {}, "Quota per project", "One project-slug=GPUs per line."),
    )

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        project = facts.job.get("project")
        quota = (rule.params.get("project_max_gpus") or {}).get(project, rule.params.get("default_max_gpus", 0))
        active = int(facts.project.get("active_gpus") or 0)
        wanted = int(facts.job.get("gpus") or 0)
        if active + wanted > quota:
            yield Finding(f"Project {project} would use {active + wanted} GPUs at once ({active} already approved or running "
                          f"+ {wanted} for this job); its quota is {quota}.")


class EvaluationGate(Template):
    key = "evaluation_gate"
    label = "Evaluation gate for serving"
    description = ("A model may be served in a jurisdiction only with an approved evaluation in that jurisdiction's "
                   "language (the serving jurisdiction, or the cluster's).")
    params = (
        Param("kinds", "list", ["inference"], "Job kinds it applies to", "", ("training", "fine_tuning", "inference", "evaluation")),
        Param("require_all_languages", "bool", False, "Require every official language",
              "Off: one of the jurisdiction's languages is enough."),
    )
    cluster_dependent = True
    serving = True

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        if facts.job.get("kind") not in (rule.params.get("kinds") or []):
            return
        where = facts.job.get("serving_jurisdiction") or (cluster or {}).get("jurisdiction")
        if not where:
            return
        languages_of = facts.doc.get("languages", {})
        models = [i for i in rule.inputs(facts) if i.get("kind") != "dataset"]
        for country in sorted(facts.expand([where])):
            languages = languages_of.get(country)
            if not languages:
                yield Finding(f"No language is recorded for {country}, so no evaluation can admit serving there.", kind="missing_fact")
                continue
            for item in models:
                evaluations = facts.doc.get("evaluations", {}).get(str(item.get("asset_id")), [])
                covered = {e["language"] for e in evaluations if country in e.get("countries", [])}
                ok = set(languages) <= covered if rule.params.get("require_all_languages") else bool(covered & set(languages))
                if not ok:
                    need = " and ".join(languages) if rule.params.get("require_all_languages") else " or ".join(languages)
                    yield Finding(f"{asset_label(item)} has no approved evaluation in {need} for serving in {country}.", item)
