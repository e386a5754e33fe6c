"""The audit ledger. ``record(...)`` is the single entry point for every write's audit event."""

from .recorder import record, snapshot

__all__ = ["record", "snapshot"]
