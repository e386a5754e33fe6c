"""Process tuning shared by the web workers, the Celery workers and the benchmarks that stand in
for them.

Python's cyclic garbage collector walks every tracked object of the oldest generation on a full
collection. A worker that has imported Django, DRF and every app holds a few hundred thousand
such objects that live as long as the process; a full collection that walks them all pauses
whatever request or task is running for tens of milliseconds (measured: ~35 ms during policy
admission, the whole of its p99). ``gc.freeze()`` after start-up moves them to a permanent
generation the collector skips; objects created later are still collected as before.
See docs/adr/0023-worker-gc.md."""

from __future__ import annotations

import gc

# gen0 threshold: Python's default of 700 allocations runs a young collection several times per
# admission (a 50-input facts document is tens of thousands of containers); 10,000 keeps young
# collections cheap and rarer without letting garbage cycles live long.
GEN0_THRESHOLD = 10_000

_tuned = False


def tune_gc() -> None:
    """Collect once, freeze what survived start-up, raise the young threshold. Idempotent; call
    after the application is loaded (WSGI module, Celery ``worker_process_init``)."""
    global _tuned
    gc.collect()
    gc.freeze()
    if not _tuned:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
        _tuned = True
