"""The decision itself, as pure functions of (facts document, rules, waivers, time): no database.

Rules that do not depend on the cluster run once; the others run per candidate cluster. Waivers
are applied here (the one place their expiry is checked). With a target cluster the job is judged
there; with "any allowed" govhub picks the cheapest cluster with the best outcome and keeps every
other cluster's reasons. What-if replays and dry runs use ``substitute`` on a stored result."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ..rules.base import Facts, Rule

FACTS_POLICY = "govhub.facts"
PLACEMENT_POLICY = "govhub.placement"
RANK = {"allow": 0, "require_approval": 1, "deny": 2}
ENFORCING = ("deny", "require_approval")


def _system_violation(policy: str, message: str, kind: str, asset_id: Any = None, cluster: str | None = None) -> dict:
    return {"policy": policy, "version": 0, "version_id": None, "template": policy, "action": "deny", "kind": kind,
            "message": message, "asset_id": asset_id, "asset": None, "upstream_id": None, "upstream": None,
            "cluster": cluster, "waived": False}


def blocking(v: dict) -> str | None:
    """What a violation does to the outcome: deny, require_approval or nothing."""
    if v.get("waived") or v["action"] not in ENFORCING:
        return None
    if v["kind"] != "violation":
        return "deny"  # a missing fact, an engine error or a timeout never merely asks for approval
    return v["action"]


def outcome_of(*groups: list[dict]) -> str:
    worst = "allow"
    for group in groups:
        for v in group:
            effect = blocking(v)
            if effect and RANK[effect] > RANK[worst]:
                worst = effect
                if worst == "deny":
                    return worst
    return worst


# --- waivers ---------------------------------------------------------------------------------


def waiver_covers(waiver: dict, v: dict, facts: Facts, now: dt.datetime) -> bool:
    """Does an approved waiver cover this violation now? The only place expiry is checked."""
    if waiver["expires_at"] <= now or waiver["policy"] != v["policy"]:
        return False
    if waiver.get("project") and waiver["project"] != facts.job.get("project"):
        return False
    if waiver.get("job_kinds") and facts.job.get("kind") not in waiver["job_kinds"]:
        return False
    if waiver.get("clusters") and v.get("cluster") not in waiver["clusters"]:
        return False
    return not waiver.get("assets") or v.get("asset_id") in waiver["assets"]


def apply_waivers(violations: list[dict], waivers: list[dict], facts: Facts, now: dt.datetime) -> None:
    for v in violations:
        if v["policy"] in (FACTS_POLICY, PLACEMENT_POLICY):
            continue
        for w in waivers:
            if waiver_covers(w, v, facts, now):
                v.update(waived=True, waiver_id=w["id"], waiver_expires=w["expires_at"].isoformat())
                break


# --- evaluation ------------------------------------------------------------------------------


def _placement(facts: Facts, cluster: dict) -> str:
    if not cluster.get("enabled", True):
        return f"cluster {cluster['name']} is disabled"
    if int(cluster.get("gpu_count") or 0) < int(facts.job.get("gpus") or 0):
        return f"cluster {cluster['name']} has {cluster.get('gpu_count')} GPUs; the job needs {facts.job.get('gpus')}"
    return ""


def evaluate(doc: dict[str, Any], rules: list[Rule], waivers: list[dict], now: dt.datetime) -> dict[str, Any]:
    """Every rule result, per cluster, with waivers applied and the cluster chosen."""
    facts = Facts(doc)
    target = facts.job.get("target_cluster")
    glob = [_system_violation(FACTS_POLICY, m["message"], "missing_fact", m.get("asset_id")) for m in doc.get("missing", [])]
    live = [r for r in rules if not r.shadow]
    for rule in live:
        if not rule.cluster_dependent:
            glob += rule.evaluate(facts, None)
    clusters: dict[str, list[dict]] = {}
    excluded: dict[str, str] = {}
    costs: dict[str, str] = {}
    for cluster in facts.clusters:
        reason = _placement(facts, cluster)
        if reason and not target:
            excluded[cluster["name"]] = reason
            continue
        found = [_system_violation(PLACEMENT_POLICY, reason[0].upper() + reason[1:] + ".", "violation", cluster=cluster["name"])] if reason else []
        for rule in live:
            if rule.cluster_dependent:
                found += rule.evaluate(facts, cluster)
        clusters[cluster["name"]] = found
        costs[cluster["name"]] = str(facts.job_cost(cluster))
    results = {"global": glob, "clusters": clusters, "excluded": excluded, "costs": costs, "target": target}
    apply_waivers([v for group in (glob, *clusters.values()) for v in group], waivers, facts, now)
    choose(results)
    return results


def choose(results: dict[str, Any]) -> None:
    """Set ``chosen`` and ``outcome``: the target cluster, or the cheapest with the best outcome."""
    g = outcome_of(results["global"])
    ranked = sorted((max(RANK[g], RANK[outcome_of(vs)]), Decimal(results["costs"].get(name, "0")), name)
                    for name, vs in results["clusters"].items())
    if not ranked:
        results.update(chosen=None, outcome="deny")
        return
    rank, _cost, name = ranked[0]
    outcome = next(k for k, v in RANK.items() if v == rank)
    results.update(chosen=name if outcome != "deny" else None, outcome=outcome)


def substitute(results: dict[str, Any], doc: dict[str, Any], policy: str, rule: Rule | None,
               waivers: list[dict], now: dt.datetime) -> dict[str, Any]:
    """The result had ``policy`` been ``rule`` (None: had it not existed), on the same facts."""
    facts = Facts(doc)
    by_name = {c["name"]: c for c in facts.clusters}
    new = {"global": [v for v in results.get("global", []) if v["policy"] != policy],
           "clusters": {n: [v for v in vs if v["policy"] != policy] for n, vs in results.get("clusters", {}).items()},
           "excluded": results.get("excluded", {}), "costs": results.get("costs", {}), "target": results.get("target")}
    if rule is not None:
        added: list[dict] = []
        if rule.cluster_dependent:
            for name, group in new["clusters"].items():
                if name in by_name:
                    found = rule.evaluate(facts, by_name[name])
                    group.extend(found)
                    added += found
        else:
            added = rule.evaluate(facts, None)
            new["global"].extend(added)
        apply_waivers(added, waivers, facts, now)
    choose(new)
    return new


# --- views of a result -----------------------------------------------------------------------


def effective_violations(results: dict[str, Any]) -> list[dict]:
    """The violations behind the outcome: global ones plus those of the chosen (or target) cluster."""
    name = results.get("chosen") or results.get("target")
    if name is None and len(results.get("clusters", {})) == 1:
        name = next(iter(results["clusters"]))
    return [*results.get("global", []), *results.get("clusters", {}).get(name, [])] if name else list(results.get("global", []))


def rejected_clusters(results: dict[str, Any]) -> list[dict]:
    chosen = results.get("chosen") or results.get("target")
    out = [{"cluster": name, "cost": results.get("costs", {}).get(name),
            "reasons": [v for v in vs if blocking(v)]}
           for name, vs in sorted(results.get("clusters", {}).items()) if name != chosen]
    out += [{"cluster": name, "cost": None, "reasons": [], "excluded": why} for name, why in sorted(results.get("excluded", {}).items())]
    return out


def summarize(results: dict[str, Any]) -> str:
    violations = effective_violations(results)
    enforced = [v for v in violations if blocking(v)]
    waived = sum(1 for v in violations if v.get("waived"))
    warned = sum(1 for v in violations if not v.get("waived") and v["action"] == "warn")
    tail = "".join([f"; {waived} waived" if waived else "", f"; {warned} warning{'s' * (warned != 1)}" if warned else ""])
    outcome = results.get("outcome")
    if outcome == "allow":
        others = len(results.get("clusters", {})) - 1
        where = f" (cheapest allowed of {others + 1} candidates)" if not results.get("target") and others > 0 else ""
        return f"Allowed on {results.get('chosen')}{where}{tail}."
    if outcome == "require_approval":
        return f"Needs approval on {results.get('chosen')}: " + "; ".join(f"{v['policy']}: {v['message']}" for v in enforced) + tail
    if not enforced and not results.get("target"):
        n = len(results.get("clusters", {})) + len(results.get("excluded", {}))
        return f"Denied: no cluster passes every rule ({n} rejected){tail}."
    return "Denied: " + "; ".join(f"{v['policy']}: {v['message']}" for v in enforced) + tail
