"""The audit ledger. ``record(...)`` is the entry point for every write's audit event; a hot path
that writes its change and the event in one statement builds the same row with ``prepare(...)``
and inserts it with ``insert_sql(...)`` (apps.jobs.services.transition)."""

from .recorder import insert_sql, prepare, record, snapshot

__all__ = ["insert_sql", "prepare", "record", "snapshot"]
