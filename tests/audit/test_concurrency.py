"""8 processes append at once while two sequencer processes run: every committed event lands in
the tree exactly once, nothing rolled back does, and every checkpoint extends the previous one."""

import os
import subprocess
import sys

import pytest
from django.db import connection

from apps.audit import keys, sequencer, tree
from apps.audit.models import AuditEvent, Checkpoint, LogEntry
from apps.audit.verify import verify_ledger
from tests.utils import REPO, database_url
from tools import verify_export as v

WRITERS = 8
PER_WRITER = 120


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sequencers(tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "GOVHUB_ENV": "test",
           "GOVHUB_CHECKPOINT_DIR": str(tmp_path / "checkpoints")}
    run = [sys.executable, "-m", "tests.audit.ledger_worker"]
    sequencers = [subprocess.Popen([*run, "sequencer", "40"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    writers = [subprocess.Popen([*run, "writer", str(PER_WRITER), str(seed)], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
               for seed in range(WRITERS)]
    try:
        for p in writers:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        sizes_while_writing = Checkpoint.objects.count()
    finally:
        for p in sequencers:
            p.terminate()
            p.communicate(timeout=30)
    sequencer.sequence()

    appended = AuditEvent.objects.filter(action="test.append")
    assert appended.count() == WRITERS * PER_WRITER
    assert not appended.filter(extra__doomed=True).exists()
    event_ids = set(AuditEvent.objects.values_list("id", flat=True))
    logged = list(LogEntry.objects.order_by("log_index").values_list("log_index", "event_id"))
    assert [i for i, _ in logged] == list(range(len(logged)))
    assert len({e for _, e in logged}) == len(logged) == len(event_ids)
    assert {e for _, e in logged} == event_ids
    assert sizes_while_writing > 1, "the sequencers ran while the writers were writing"

    cps = list(Checkpoint.objects.order_by("tree_size"))
    ring = keys.keyring()
    for a, b in zip(cps, cps[1:]):
        v.verify_note(b.note, ring)
        proof = tree.consistency_proof(a.tree_size, b.tree_size)
        assert v.verify_consistency(a.tree_size, b.tree_size, bytes(a.root_hash), bytes(b.root_hash), proof), (a.tree_size, b.tree_size)
    result = verify_ledger()
    assert result.ok, result.message
    assert result.checkpoints == len(cps)
