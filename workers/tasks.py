"""Imported by Celery's autodiscovery (``app.autodiscover_tasks(["workers"])``)."""

from .catalog_tasks import expire_consents, reinfer_residency  # noqa: F401
