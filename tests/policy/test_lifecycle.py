"""Versions: draft → review → active → retired, immutable once published (also in the database),
approver ≠ author, tests gate activation, diffs; Rego modules with syntax errors refused on save,
runtime errors and timeouts fail closed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InternalError, transaction

from apps.core.sod import SeparationOfDutiesError
from apps.policy import services
from apps.policy.models import PolicyVersion
from apps.policy.services import content, testing
from tests.policy.fixtures import SMOKE_TEST, admit

pytestmark = pytest.mark.django_db

REGO_DENY_UNREVIEWED = """package govhub.custom
import rego.v1

deny contains {"msg": sprintf("%s is unreviewed", [item.name]), "asset": item.asset_id} if {
    some item in input.inputs
    "unreviewed" in item.tags
}

warn contains msg if {
    input.job.gpus > 4
    msg := "a big job"
}
"""


def draft(compliance, template="residency", **content_):
    return services.create_policy(compliance, {"slug": f"p-{template}", "name": template, "template": template},
                                  {"tests": SMOKE_TEST, **content_})


def test_published_versions_are_immutable_even_in_sql(compliance):
    version = services.submit_for_review(draft(compliance), compliance)
    with pytest.raises(ValidationError):
        services.update_draft(version, {"action": "warn"})
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        PolicyVersion.objects.filter(pk=version.pk).update(params={"require_transfer_basis": False})
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        PolicyVersion.objects.filter(pk=version.pk).update(state="draft")


def test_the_author_cannot_activate_and_the_database_agrees(compliance, second_officer):
    version = services.submit_for_review(draft(compliance), compliance)
    with pytest.raises(SeparationOfDutiesError):
        services.activate(version, compliance)
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyVersion.objects.filter(pk=version.pk).update(approved_by=compliance)
    active = services.activate(version, second_officer)
    assert active.state == "active" and active.approved_by == second_officer and active.test_runs.get().passed


def test_failing_tests_block_activation(compliance, second_officer):
    failing = [{"name": "expects a violation that never comes", "input": {}, "expect": [{"contains": "processed only"}]}]
    version = services.submit_for_review(draft(compliance, tests=failing), compliance)
    with pytest.raises(ValidationError) as err:
        services.activate(version, second_officer)
    assert "expects a violation" in str(err.value)
    assert PolicyVersion.objects.get(pk=version.pk).state == "review"


def test_tests_compare_violations_one_to_one(compliance):
    tests = [{"name": "EU data on a US cluster", "expect": [{"asset": "claims", "contains": "only in DE"}],
              "input": {"inputs": [{"name": "claims"}], "clusters": [{"id": 1, "name": "us", "jurisdiction": "US", "security_tier": 4,
                                                                        "confidential_computing": True, "price_per_gpu_hour": "1",
                                                                        "currency": "EUR", "gpu_count": 8, "enabled": True}]}},
             {"name": "EU data at home", "input": {"inputs": [{"name": "claims"}]}, "expect": []}]
    version = draft(compliance, tests=tests)
    run = testing.run_tests(version)
    assert run.passed, run.results
    services.update_draft(version, {"tests": [{**tests[1], "expect": [{"asset": "claims"}]}]})
    run = testing.run_tests(PolicyVersion.objects.get(pk=version.pk))
    assert not run.passed and run.results[0]["unmatched"] == [{"asset": "claims"}]


def test_new_version_replaces_the_active_one_and_diffs_show_the_change(compliance, second_officer):
    v1 = services.activate(services.submit_for_review(draft(compliance), compliance), second_officer)
    v2 = services.new_draft(v1.policy, compliance)
    v2 = services.update_draft(v2, {"params": {"allowed_bases": ["intra_bloc", "adequacy", "scc"]}, "change_note": "SCCs ok"})
    lines = content.diff(v1, v2)
    assert any(line.startswith("+") and '"scc"' in line for line in lines)
    v2 = services.activate(services.submit_for_review(v2, compliance), second_officer)
    v1.refresh_from_db()
    assert v1.state == "retired" and v2.state == "active" and v2.number == 2


def test_bad_parameters_and_scope_are_400s_naming_the_field(api, compliance, clusters):
    response = api.as_user(compliance).post("/api/v1/policies", {
        "slug": "q", "name": "quota", "template": "gpu_quota", "params": {"default_max_gpus": -3},
        "scope": {"projects": ["nope"]}}, format="json")
    assert response.status_code == 400
    assert "params.default_max_gpus" in response.json()["error"]["fields"]


def test_rego_syntax_errors_are_shown_with_line_and_column_on_save(api, compliance):
    source = "package govhub.bad\nimport rego.v1\n\ndeny contains msg if {\n    msg :=\n}\n"
    response = api.as_user(compliance).post("/api/v1/policies", {"slug": "bad", "name": "bad", "template": "rego",
                                                                  "rego_source": source}, format="json")
    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["rego_source"]
    assert message.startswith("Line 5, column") and "assignment" in message.lower()


def test_custom_rego_rule_denies_and_warns(publish, clusters, budget, make_dataset, submit):
    publish("rego", slug="no-unreviewed", rego_source=REGO_DENY_UNREVIEWED)
    clean = make_dataset(name="clean")
    assert admit(submit([clean], target_cluster=clusters["fra"])).state == "approved"
    dirty = make_dataset(name="export-2026", tags=["unreviewed"])
    job = admit(submit([clean, dirty], target_cluster=clusters["fra"], gpus=8))
    found = job.last_decision.violations
    assert job.state == "denied"
    assert [(v["asset"], v["message"], v["action"]) for v in found if v["action"] == "deny"] == \
        [("export-2026", "Export-2026 is unreviewed", "deny")]
    assert [v["message"] for v in found if v["action"] == "warn"] == ["A big job"]


def test_rego_runtime_error_fails_closed(compliance, second_officer):
    from django.utils import timezone

    from apps.policy.engine import evaluator
    from apps.policy.services.ruleset import compile_version

    broken = 'package govhub.broken\nimport rego.v1\ndeny contains msg if { msg := concat(",", input.job.gpus) }\n'
    version = services.submit_for_review(draft(compliance, template="rego", rego_source=broken), compliance)
    with pytest.raises(ValidationError):  # its own tests catch it: activation is refused
        services.activate(version, second_officer)
    results = evaluator.evaluate(testing.build_doc({}), [compile_version(version)], [], timezone.now())
    [v] = evaluator.effective_violations(results)
    assert results["outcome"] == "deny" and v["kind"] == "engine_error" and "failed" in v["message"]


def test_engine_errors_and_timeouts_deny(publish, clusters, budget, eu_dataset, submit, monkeypatch):
    from apps.policy.engine import rego

    publish("rego", slug="custom", rego_source=REGO_DENY_UNREVIEWED)

    def slow(self, module, document, timeout):
        raise rego.RegoTimeout("the Rego evaluation took longer than 250 ms")

    monkeypatch.setattr(rego.RegopyEngine, "evaluate", slow)
    job = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
    [v] = job.last_decision.violations
    assert job.state == "denied" and v["kind"] == "timeout" and "took longer" in v["message"]


def test_a_real_timeout_is_enforced(publish):
    from apps.policy.engine import rego

    spin = ("package govhub.spin\nimport rego.v1\n"
            "deny contains msg if { count([x | some x in numbers.range(1, 3000000); x % 7 == 0]) > 0; msg := \"slow\" }\n")
    module = rego.engine().compile(spin)
    with pytest.raises(rego.RegoTimeout):
        rego.engine().evaluate(module, {}, timeout=0.001)


def test_missing_effective_constraints_deny_with_the_reason(publish, clusters, budget, eu_dataset, submit, monkeypatch):
    from apps.policy import facts

    publish("purpose")

    def lineage_down(ids):
        raise ConnectionError("lineage unavailable")

    monkeypatch.setattr(facts, "refresh_constraints", lineage_down)
    job = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
    [v] = job.last_decision.violations
    assert job.state == "denied" and v["policy"] == "govhub.facts" and v["kind"] == "missing_fact"
    assert "eu-patients" in v["message"] or str(eu_dataset.pk) in v["message"]
    assert job.last_decision.error
