from .assets import Asset, AssetKind, Classification, Dataset, DatasetVersion, FineTune, Model, ResidencySource
from .consent import ConsentRecord, ConsentStatus, LegalBasis
from .jurisdictions import Jurisdiction, JurisdictionKind, NamespaceRule
from .purposes import Purpose

__all__ = [
    "Asset", "AssetKind", "Classification", "ConsentRecord", "ConsentStatus", "Dataset", "DatasetVersion",
    "FineTune", "Jurisdiction", "JurisdictionKind", "LegalBasis", "Model", "NamespaceRule", "Purpose",
    "ResidencySource",
]
