"""Rule templates about the data a job touches: residency and transfers, purpose, consent,
classification and confidential computing. Each judges an input by its *effective* constraints
(lineage), and names the upstream asset that imposes an inherited constraint."""

from __future__ import annotations

from collections.abc import Iterable

from apps.catalog.models.purposes import purposes_cover

from .base import Facts, Finding, Param, Rule, Template, asset_label, located

CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
TIER_NAMES = {1: "public", 2: "internal", 3: "confidential", 4: "restricted"}
LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests")
CONSENT_FLAGS = {"consent_withdrawn": "withdrawn", "consent_expired": "expired", "consent_pending": "not yet valid",
                 "no_legal_basis": "without a recorded legal basis"}


def _inherited(upstream: dict, item: dict) -> str:
    if not upstream or upstream.get("asset_id") == item.get("asset_id"):
        return ""
    return f" (inherited from upstream {located(upstream)})"


class Residency(Template):
    key = "residency"
    label = "Residency and cross-border transfer"
    description = ("Every input's effective processing jurisdictions must admit the cluster's jurisdiction, and moving "
                   "data out of the jurisdiction it is stored in needs a transfer rule with an allowed legal basis.")
    params = (
        Param("require_transfer_basis", "bool", True, "Require a transfer basis",
              "Processing outside the storage jurisdiction needs a transfer rule (adequacy, SCC, …)."),
        Param("allowed_bases", "list", ["intra_bloc", "adequacy"], "Accepted transfer bases",
              "Which kinds of transfer rule count.", ("intra_bloc", "adequacy", "scc", "bcr")),
    )
    cluster_dependent = True
    serving = True

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        if cluster is None:
            return
        where = facts.expand([cluster["jurisdiction"]])
        for item in rule.inputs(facts):
            eff = item.get("effective")
            if eff is None:
                continue
            allowed = facts.jurisdictions(item)
            up = item.get("upstream") or {}
            if not allowed:
                unknown = up.get("unknown_residency") or []
                source = unknown[0] if unknown else item
                yield Finding(f"{asset_label(item)} may be processed nowhere: residency is unknown"
                              f"{_inherited(source, item) or (' for ' + asset_label(item) if not unknown else '')}; "
                              f"cluster {cluster['name']} is in {cluster['jurisdiction']}.", item, source)
                continue
            if not where <= allowed:
                blocking = [s for s in up.get("jurisdictions", []) if not where <= facts.expand(s.get("allowed", []))]
                source = next((s for s in blocking if s.get("depth")), blocking[0] if blocking else item)
                yield Finding(f"{asset_label(item)} may be processed only in {facts.display(allowed)}"
                              f"{_inherited(source, item)}; cluster {cluster['name']} is in {cluster['jurisdiction']}.",
                              item, source)
                continue
            if rule.params.get("require_transfer_basis", True):
                yield from self._transfer(rule, facts, item, cluster, where)

    def _transfer(self, rule: Rule, facts: Facts, item: dict, cluster: dict, where: set[str]) -> Iterable[Finding]:
        origin = item.get("storage_jurisdiction")
        if not origin:
            return
        home = facts.expand([origin])
        abroad = where - home
        if not abroad:
            return
        bases = frozenset(rule.params.get("allowed_bases") or [])
        missing = sorted(abroad - facts.transfer_destinations(origin, bases))
        if missing:
            yield Finding(f"Moving {asset_label(item)} from {origin} to {', '.join(missing)} (cluster {cluster['name']}) "
                          f"has no transfer rule with an accepted basis ({', '.join(sorted(bases)) or 'none accepted'}).", item)


class PurposeRule(Template):
    key = "purpose"
    label = "Purpose limitation"
    description = "The job's purpose must be within every input's effective allowed purposes."
    serving = True

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        wanted = facts.job.get("purpose", "")
        for item in rule.inputs(facts):
            eff = item.get("effective")
            if eff is None or eff.get("purposes_unrestricted"):
                continue
            allowed = eff.get("purposes") or []
            if purposes_cover(allowed, wanted):
                continue
            sources = [s for s in (item.get("upstream") or {}).get("purposes", []) if not purposes_cover(s.get("allowed", []), wanted)]
            source = next((s for s in sources if s.get("depth")), sources[0] if sources else item)
            why = f" because of {source['reason']}" if source.get("reason") else ""
            yield Finding(f"Purpose {wanted} is not allowed for {asset_label(item)}: it may be used only for "
                          f"{', '.join(allowed) or 'no purpose at all'}{why}{_inherited(source, item)}.", item, source)


class Consent(Template):
    key = "consent"
    label = "Consent and legal basis"
    description = ("No input may rest on a withdrawn, expired or not yet valid consent, or on no recorded legal basis "
                   "(unknown is a violation), directly or anywhere upstream.")
    params = (
        Param("personal_data_only", "bool", False, "Only for personal data",
              "Datasets without personal data need no consent record."),
        Param("accepted_legal_bases", "list", list(LEGAL_BASES), "Accepted legal bases", "", LEGAL_BASES),
    )
    serving = True

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        accepted = set(rule.params.get("accepted_legal_bases") or LEGAL_BASES)
        for item in rule.inputs(facts):
            yield from self._own(rule, item, accepted)
            for flag in (item.get("upstream") or {}).get("flags", []):
                if flag.get("depth") and flag.get("code") in CONSENT_FLAGS:
                    detail = f": {flag['detail']}" if flag.get("detail") else "."
                    yield Finding(f"{asset_label(item)} derives from {located(flag)}, whose data is "
                                  f"{CONSENT_FLAGS[flag['code']]}{detail}", item, flag)

    def _own(self, rule: Rule, item: dict, accepted: set[str]) -> Iterable[Finding]:
        consent = item.get("consent")
        if consent is None:
            needs = item.get("kind") == "dataset" and (item.get("contains_pii") or not rule.params.get("personal_data_only"))
            if needs:
                yield Finding(f"No consent or legal basis is recorded for {asset_label(item)} (unknown counts as a violation).", item)
            return
        version = item.get("dataset_version")
        what = f"{asset_label(item)}" + (f" version {version['version']}" if version and item.get("consent_source") == "dataset_version" else "")
        if consent["status"] != "active":
            yield Finding(f"The consent {consent.get('reference')} of {what} is {consent['status']}.", item)
        elif not consent.get("legal_basis"):
            yield Finding(f"The consent record of {what} names no legal basis.", item)
        elif consent["legal_basis"] not in accepted:
            yield Finding(f"{what} rests on {consent['legal_basis']}, which this policy does not accept.", item)


class ClassificationTier(Template):
    key = "classification"
    label = "Classification vs security tier"
    description = "A cluster may process data up to its security tier (tier = highest classification rank + 1)."
    cluster_dependent = True

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        if cluster is None:
            return
        tier = int(cluster["security_tier"])
        for item in rule.inputs(facts):
            eff = item.get("effective")
            if eff is None or eff.get("classification") not in CLASSIFICATIONS:
                continue
            rank = CLASSIFICATIONS.index(eff["classification"])
            if rank + 1 > tier:
                source = (item.get("upstream") or {}).get("classification") or item
                yield Finding(f"{asset_label(item)} is {eff['classification']}{_inherited(source, item)}; cluster "
                              f"{cluster['name']} is accredited only up to {TIER_NAMES.get(tier, tier)} data (tier {tier}).",
                              item, source)


class ConfidentialComputing(Template):
    key = "confidential_computing"
    label = "Confidential computing"
    description = "Inputs of the chosen classifications may run only on clusters with attested confidential computing."
    params = (Param("classifications", "list", ["restricted"], "Classifications that need it", "", CLASSIFICATIONS),)
    cluster_dependent = True

    def check(self, rule: Rule, facts: Facts, cluster: dict | None) -> Iterable[Finding]:
        if cluster is None or cluster.get("confidential_computing"):
            return
        chosen = set(rule.params.get("classifications") or [])
        for item in rule.inputs(facts):
            eff = item.get("effective")
            if eff is not None and eff.get("classification") in chosen:
                source = (item.get("upstream") or {}).get("classification") or item
                yield Finding(f"{asset_label(item)} is {eff['classification']}{_inherited(source, item)} and needs confidential "
                              f"computing; cluster {cluster['name']} has none.", item, source)
