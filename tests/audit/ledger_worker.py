"""Child process for the concurrency test: ``writer <n> <seed>`` appends audit events (some in
multi-event transactions, some slow to commit, some rolled back); ``sequencer <seconds>`` calls
the sequencer in a loop. Run as ``python -m tests.audit.ledger_worker ...`` with DATABASE_URL set."""

from __future__ import annotations

import os
import random
import sys
import time


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govhub.settings")
    os.environ.setdefault("GOVHUB_ENV", "test")
    import django

    django.setup()


class Rollback(Exception):
    pass


def writer(n: int, seed: int) -> None:
    from django.db import transaction

    from apps import audit
    from apps.core import context

    rng = random.Random(seed)
    written = 0
    with context.acting_as(context.Actor(user_id=None, label=f"system:writer-{seed}", kind="system")):
        while written < n:
            batch = min(n - written, rng.choice([1, 1, 1, 2, 5]))
            doomed = rng.random() < 0.1
            try:
                with transaction.atomic():
                    for i in range(batch):
                        audit.record("test.append", object_type="test.thing", object_id=f"{seed}-{written + i}",
                                     extra={"writer": seed, "n": written + i, "doomed": doomed})
                    if rng.random() < 0.05:
                        time.sleep(rng.uniform(0.2, 0.8))  # a slow transaction: low ids commit late
                    if doomed:
                        raise Rollback
            except Rollback:
                continue
            written += batch


def sequencer(seconds: float) -> None:
    from apps.audit import sequencer as seq
    from apps.core import context

    stop = time.monotonic() + seconds
    with context.acting_as(context.Actor(user_id=None, label="system:test-sequencer", kind="system")):
        while time.monotonic() < stop:
            seq.sequence(limit=200)
            time.sleep(0.02)


if __name__ == "__main__":
    _setup()
    role = sys.argv[1]
    if role == "writer":
        writer(int(sys.argv[2]), int(sys.argv[3]))
    elif role == "sequencer":
        sequencer(float(sys.argv[2]))
    else:
        raise SystemExit(f"unknown role {role}")
