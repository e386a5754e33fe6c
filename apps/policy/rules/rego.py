"""Custom rules in Rego: the same input document the built-in rules see (plus ``input.cluster``,
the candidate cluster), and ``deny``/``violation``/``warn`` sets of messages in the Gatekeeper and
conftest style. An engine error or a timeout is a finding of its own, so the decision fails closed."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

from ..engine import rego
from .base import Facts, Finding, Param, Rule, Template

EXAMPLE = """package govhub.custom

import rego.v1

# Deny jobs that train on data tagged "unreviewed".
deny contains msg if {
    some item in input.inputs
    "unreviewed" in item.tags
    msg := sprintf("%s is tagged unreviewed", [item.name])
}

warn contains msg if {
    input.job.gpus > 32
    msg := sprintf("%d GPUs is a large job", [input.job.gpus])
}
"""


class RegoRule(Template):
    key = "rego"
    label = "Custom rule (Rego)"
    description = ("A Rego module evaluated in-process; deny (or violation) messages are violations with the policy's "
                   "action, warn messages are warnings. A message may be an object {msg, asset} naming an input.")
    params = (Param("timeout_ms", "int", 250, "Timeout (ms)", "An evaluation that takes longer denies (fail closed)."),)
    cluster_dependent = True  # unless the module never reads input.cluster (Rule.cluster_dependent)

    def validate(self, params: dict) -> None:
        if not 1 <= params["timeout_ms"] <= 5000:
            raise ValidationError({"params.timeout_ms": "Between 1 and 5000 ms."})

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        if rule.compiled is None:
            yield Finding(f"Policy {rule.policy} has no compiled Rego module.", kind="engine_error")
            return
        document = {**facts.doc, "cluster": cluster}
        try:
            result = rego.engine().evaluate(rule.compiled, document, rule.params.get("timeout_ms", 250) / 1000)
        except rego.RegoTimeout as exc:
            yield Finding(f"Custom rule {rule.policy} timed out: {exc}.", kind="timeout")
            return
        except Exception as exc:
            yield Finding(f"Custom rule {rule.policy} failed: {exc}", kind="engine_error")
            return
        by_id = {i.get("asset_id"): i for i in facts.inputs}
        by_name = {i.get("name"): i for i in facts.inputs}
        for message in result.deny:
            yield Finding(message["msg"], by_id.get(message["asset"]) or by_name.get(message["asset"]))
        for message in result.warn:
            yield Finding(message["msg"], by_id.get(message["asset"]) or by_name.get(message["asset"]), action="warn")
