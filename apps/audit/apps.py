import logging

from django.apps import AppConfig


class _QuietLedgerTicks(logging.Filter):
    """The sequencer runs twice a second: keep its routine INFO lines (received, succeeded, sent by
    beat) out of the logs; warnings and errors still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or "audit.sequence" not in record.getMessage()


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit ledger"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (login and login-failure receivers)

        for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
            logging.getLogger(name).addFilter(_QuietLedgerTicks())
