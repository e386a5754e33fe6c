import datetime as dt
import zipfile

import pytest
from django.utils import timezone


@pytest.fixture(autouse=True)
def _ledger_dirs(settings, tmp_path):
    settings.GOVHUB_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.GOVHUB_EXPORT_DIR = tmp_path / "exports"
    from apps.audit import pseudonyms

    pseudonyms.forget_cached()
    yield


@pytest.fixture
def catalog(project, other_project, make_dataset, actor_context, reference_data):
    """A fine-tune on a base model, each trained on datasets (one with a consent and versions),
    plus an unrelated dataset and a dataset of another project."""
    from apps.catalog import services
    from apps.catalog.models import Jurisdiction

    consent = services.create_consent({"project": project, "reference": "CONSENT-1", "legal_basis": "consent",
                                       "purposes": ["research"], "jurisdiction_scope": ["EU"],
                                       "data_subject_categories": ["patients"], "personal_data_categories": ["health"],
                                       "controller": "Sovereign Health GmbH"})
    de = Jurisdiction.objects.get(code="DE")
    us = Jurisdiction.objects.get(code="US")
    corpus = make_dataset(name="corpus", consent=consent, contains_pii=True, storage_jurisdiction=de, processing_jurisdictions=["DE", "US"])
    services.create_dataset_version(corpus, {"version": "2026-01", "description": "deduplicated, PII scrubbed", "row_count": 1000})
    notes = make_dataset(name="notes", storage_jurisdiction=us, processing_jurisdictions=["US"])
    unrelated = make_dataset(name="unrelated")
    base = services.create_asset("model", {"project": project, "namespace": "s3://models", "name": "base-8b"}, training_datasets=[notes])
    tuned = services.create_asset("fine_tune", {"project": project, "namespace": "s3://models", "name": "onco-8b", "base_model": base},
                                  training_datasets=[corpus])
    theirs = services.create_asset("dataset", {"project": other_project, "namespace": "s3://bank", "name": "transactions"})
    return {"consent": consent, "corpus": corpus, "notes": notes, "unrelated": unrelated, "base": base, "tuned": tuned, "theirs": theirs}


@pytest.fixture
def build_bundle():
    from apps.evidence import services

    def build(user=None, **scope):
        scope.setdefault("since", timezone.now() - dt.timedelta(hours=1))
        export = services.request_export(user, enqueue=False, **scope)
        export = services.run(export.pk)
        assert export.state == "done", export.error
        return export
    return build


def read_zip(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_zip(path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
