import pytest


@pytest.fixture(autouse=True)
def _ledger_dirs(settings, tmp_path):
    """Checkpoints and exports of a test go to its own directory."""
    settings.GOVHUB_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.GOVHUB_EXPORT_DIR = tmp_path / "exports"
    from apps.audit import pseudonyms

    pseudonyms.forget_cached()
    yield
