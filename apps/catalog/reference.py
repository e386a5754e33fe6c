"""Reference data every installation needs: ISO 3166-1 countries, the EU, EEA and GCC blocs,
and the top of the purpose taxonomy. Loaded by migration 0002 (with historical models) and by
test fixtures after a flush."""

from __future__ import annotations

import json
from pathlib import Path

EU = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
      "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]
EEA = EU + ["IS", "LI", "NO"]
GCC = ["AE", "BH", "KW", "OM", "QA", "SA"]
BLOCS = (("EU", "European Union", EU), ("EEA", "European Economic Area", EEA), ("GCC", "Gulf Cooperation Council", GCC))

PURPOSES = [
    ("research", "Research", "Scientific and statistical research (GDPR Art. 89)."),
    ("research.medical", "Medical research", ""),
    ("research.scientific", "Other scientific research", ""),
    ("healthcare", "Healthcare provision", ""),
    ("healthcare.diagnosis", "Diagnosis support", ""),
    ("public_service", "Public service delivery", ""),
    ("public_service.benefits", "Benefits administration", ""),
    ("fraud_detection", "Fraud detection and prevention", ""),
    ("product_improvement", "Product and service improvement", ""),
    ("customer_support", "Customer support", ""),
    ("marketing", "Marketing", ""),
    ("marketing.personalisation", "Personalised marketing", ""),
    ("security", "Security and abuse prevention", ""),
]


def load_reference_data(Jurisdiction, Purpose) -> None:  # noqa: N803 - model classes
    rows = json.loads((Path(__file__).resolve().parent / "data" / "iso3166-1.json").read_text())
    Jurisdiction.objects.bulk_create(
        [Jurisdiction(code=r["code"], name=r["name"], kind="country") for r in rows], ignore_conflicts=True
    )
    for code, name, members in BLOCS:
        bloc, _ = Jurisdiction.objects.get_or_create(code=code, defaults={"name": name, "kind": "bloc"})
        bloc.members.set(members)
    Purpose.objects.bulk_create([Purpose(code=c, name=n, description=d) for c, n, d in PURPOSES], ignore_conflicts=True)
