"""Reference data the rules start with: examples of cross-border transfer rules (EU adequacy
decisions, free flow within the EU and EEA) and the official languages of common jurisdictions.
Compliance officers adjust both; they are examples, not legal advice. Loaded by migration 0002."""

from __future__ import annotations

# Countries with an EU adequacy decision (GDPR Art. 45), as listed by the European Commission.
EU_ADEQUACY = [
    ("AD", "Commission Decision 2010/625/EU"), ("AR", "Commission Decision 2003/490/EC"),
    ("CA", "Commission Decision 2002/2/EC (commercial organisations)"), ("CH", "Commission Decision 2000/518/EC"),
    ("FO", "Commission Decision 2010/146/EU"), ("GG", "Commission Decision 2003/821/EC"),
    ("IL", "Commission Decision 2011/61/EU"), ("IM", "Commission Decision 2004/411/EC"),
    ("JE", "Commission Decision 2008/393/EC"), ("NZ", "Commission Decision 2013/65/EU"),
    ("UY", "Commission Decision 2012/484/EU"), ("JP", "Commission Implementing Decision (EU) 2019/419"),
    ("KR", "Commission Implementing Decision (EU) 2022/254"), ("GB", "Commission Implementing Decision (EU) 2021/1772"),
    ("US", "Commission Implementing Decision (EU) 2023/1795 (EU-US Data Privacy Framework, certified organisations only)"),
]

TRANSFER_RULES = [
    ("EU", "EU", "intra_bloc", "GDPR: free movement of personal data within the Union"),
    ("EEA", "EEA", "intra_bloc", "EEA Agreement, Annex XI"),
    *[("EU", code, "adequacy", ref) for code, ref in EU_ADEQUACY],
    *[("EEA", code, "adequacy", ref) for code, ref in EU_ADEQUACY],
]

LANGUAGES = {
    "AT": ["de"], "BE": ["nl", "fr", "de"], "BG": ["bg"], "HR": ["hr"], "CY": ["el", "tr"], "CZ": ["cs"], "DK": ["da"],
    "EE": ["et"], "FI": ["fi", "sv"], "FR": ["fr"], "DE": ["de"], "GR": ["el"], "HU": ["hu"], "IE": ["en", "ga"],
    "IT": ["it"], "LV": ["lv"], "LT": ["lt"], "LU": ["lb", "fr", "de"], "MT": ["mt", "en"], "NL": ["nl"], "PL": ["pl"],
    "PT": ["pt"], "RO": ["ro"], "SK": ["sk"], "SI": ["sl"], "ES": ["es"], "SE": ["sv"], "IS": ["is"], "LI": ["de"],
    "NO": ["no"], "CH": ["de", "fr", "it"], "GB": ["en"], "US": ["en"], "CA": ["en", "fr"], "JP": ["ja"], "KR": ["ko"],
    "SA": ["ar"], "AE": ["ar"], "QA": ["ar"], "KW": ["ar"], "BH": ["ar"], "OM": ["ar"], "EG": ["ar"], "IN": ["hi", "en"],
    "SG": ["en", "zh", "ms", "ta"], "BR": ["pt"], "MX": ["es"], "AU": ["en"], "NZ": ["en"], "IL": ["he"], "CN": ["zh"],
}


def load(TransferRule, JurisdictionLanguage, Jurisdiction) -> None:  # noqa: N803 - model classes
    known = set(Jurisdiction.objects.values_list("code", flat=True))
    for origin, dest, basis, ref in TRANSFER_RULES:
        if origin in known and dest in known:
            TransferRule.objects.get_or_create(origin_id=origin, destination_id=dest, basis=basis, defaults={"reference": ref})
    for code, languages in LANGUAGES.items():
        if code in known:
            JurisdictionLanguage.objects.get_or_create(jurisdiction_id=code, defaults={"languages": languages})
