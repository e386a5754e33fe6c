"""The sequencer: batches committed events into the tree, signs C2SP checkpoints, publishes them,
and is cheap and idempotent; signing keys rotate without breaking old checkpoints."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit import checkpoints, keys, merkle, sequencer, tree
from apps.audit.leaf import SELECT_COLUMNS, leaf_bytes
from apps.audit.models import AuditEvent, Checkpoint, LogEntry, SigningKey, TreeNode
from apps.audit.verify import verify_ledger
from tools import verify_export as v

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(make_dataset):
    def make(n):
        return [make_dataset() for _ in range(n)]
    return make


def test_every_event_is_sequenced_once_and_the_checkpoint_is_a_valid_signed_note(events, settings):
    events(5)
    added = sequencer.sequence()
    assert added == AuditEvent.objects.count() == LogEntry.objects.count()
    assert sequencer.sequence() == 0  # idempotent
    cp = Checkpoint.objects.get()
    body, sigs = v.split_note(cp.note)
    origin, size, root = v.parse_checkpoint(body)
    assert (origin, size, root) == (settings.GOVHUB_LEDGER_ORIGIN, cp.tree_size, bytes(cp.root_hash))
    assert cp.note.startswith(f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n\n\u2014 {origin} ")
    # key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]
    key = cp.key
    assert sigs[0][1] == hashlib.sha256(origin.encode() + b"\n\x01" + key.raw_public_key).digest()[:4]
    assert key.key_id == sigs[0][1].hex()
    assert v.verify_note(cp.note, keys.keyring()) == [f"{origin}+{key.key_id}"]
    # the stored tree is the RFC 6962 tree of the leaves rebuilt from the rows
    leaves = []
    with connection.cursor() as cur:
        cur.execute(f"SELECT l.log_index, {SELECT_COLUMNS} FROM audit_logentry l JOIN audit_auditevent e ON e.id = l.event_id ORDER BY 1")
        for row in cur.fetchall():
            leaves.append(merkle.leaf_hash(leaf_bytes(row[1:], row[0])))
    assert merkle.root(leaves) == root == tree.root_at(size)
    assert TreeNode.objects.count() == size - bin(size).count("1")


def test_batches_extend_the_tree_and_each_checkpoint_is_consistent_with_the_previous(events):
    sizes = []
    for n in (1, 3, 4, 9):
        events(n)
        sequencer.sequence(limit=5)  # small batches: several checkpoints per call
        sizes = list(Checkpoint.objects.order_by("tree_size").values_list("tree_size", flat=True))
    assert len(sizes) >= 4
    roots = dict(Checkpoint.objects.values_list("tree_size", "root_hash"))
    for a, b in zip(sizes, sizes[1:]):
        assert v.verify_consistency(a, b, bytes(roots[a]), bytes(roots[b]), tree.consistency_proof(a, b))
    for index in range(sizes[-1]):
        entry = LogEntry.objects.get(log_index=index)
        assert v.verify_inclusion(bytes(entry.leaf_hash), index, sizes[-1], tree.inclusion_proof(index, sizes[-1]), bytes(roots[sizes[-1]]))
    assert verify_ledger().ok


def test_a_tick_with_nothing_new_is_cheap(events):
    events(2)
    sequencer.sequence()
    with CaptureQueriesContext(connection) as queries:
        batch = sequencer.sequence_batch()
    assert batch.added == 0
    sql = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # lock + xmax, running transactions of this database (2), key lookup, latest checkpoint, one indexed probe
    assert len(sql) <= 6, sql


def test_checkpoints_are_published_to_the_directory(events, settings):
    events(3)
    sequencer.sequence()
    first = Checkpoint.objects.get()
    checkpoints.publish(first)  # on_commit does not fire inside a test transaction
    out = settings.GOVHUB_CHECKPOINT_DIR
    assert (out / f"{first.tree_size}.checkpoint").read_text() == first.note
    assert (out / "latest").read_text() == first.note
    events(1)
    sequencer.sequence()
    second = checkpoints.latest()
    checkpoints.publish(second)
    checkpoints.publish(first)  # an older checkpoint never moves "latest" back
    assert (out / "latest").read_text() == second.note
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{first.tree_size}.checkpoint", f"{second.tree_size}.checkpoint", "latest"])


def test_key_rotation_keeps_old_checkpoints_verifiable_and_retired_keys_stop_signing(events, monkeypatch):
    events(2)
    sequencer.sequence()
    old = SigningKey.objects.get()
    new_private = Ed25519PrivateKey.generate()
    monkeypatch.setenv("GOVHUB_LEDGER_KEY", base64.b64encode(new_private.private_bytes_raw()).decode())
    events(2)
    sequencer.sequence()
    old.refresh_from_db()
    new = SigningKey.objects.exclude(pk=old.pk).get()
    assert old.valid_until is not None and new.valid_until is None and new.valid_from >= old.valid_until
    assert AuditEvent.objects.filter(action="audit.signingkey.retire", object_id=str(old.pk)).exists()
    assert AuditEvent.objects.filter(action="audit.signingkey.register", object_id=str(new.pk)).exists()
    cps = list(Checkpoint.objects.order_by("tree_size"))
    assert {cp.key_id for cp in cps} == {old.pk, new.pk}
    ring = keys.keyring()
    for cp in cps:
        v.verify_note(cp.note, ring)
    assert verify_ledger().ok
    # a process still configured with the retired key refuses to sign
    monkeypatch.delenv("GOVHUB_LEDGER_KEY")
    with pytest.raises(keys.KeyRetired):
        keys.active()


def test_private_keys_load_from_pem_or_seed_and_dev_keys_are_private(tmp_path, settings):
    key = Ed25519PrivateKey.generate()
    pem = keys.private_pem(key)
    seed = base64.b64encode(key.private_bytes_raw())
    assert keys.public_bytes(keys.parse_private_key(pem)) == keys.public_bytes(key)
    assert keys.public_bytes(keys.parse_private_key(seed)) == keys.public_bytes(key)
    path = tmp_path / "k" / "ledger.key"
    keys.write_key_file(path, key)
    assert path.stat().st_mode & 0o777 == 0o600
    settings.GOVHUB_LEDGER_KEY_FILE = str(path)
    assert keys.public_bytes(keys.private_key()) == keys.public_bytes(key)
    with pytest.raises(FileExistsError):
        keys.write_key_file(path)


def test_uncommitted_events_of_other_transactions_wait_for_their_commit(events):
    """Only events of finished transactions (or of the sequencer's own) are taken."""
    events(1)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_xact_id()::text::bigint")
        own = cur.fetchone()[0]
    assert set(AuditEvent.objects.values_list("txid", flat=True)) == {own}
    sequencer.sequence()
    assert LogEntry.objects.count() == AuditEvent.objects.count()


def test_ledger_keygen_writes_a_private_key_file_and_registers_its_public_half(events, tmp_path, capsys):
    from django.core.management import call_command

    events(1)
    call_command("ledger_sequence")
    assert "tree size" in capsys.readouterr().out
    old = SigningKey.objects.get()
    out = tmp_path / "new.key"
    call_command("ledger_keygen", "--out", str(out), "--register")
    printed = capsys.readouterr().out
    assert out.stat().st_mode & 0o777 == 0o600
    new_pub = keys.public_bytes(keys.parse_private_key(out.read_bytes()))
    new = SigningKey.objects.get(fingerprint=SigningKey.fingerprint_of(new_pub))
    assert keys.verifier_key(new) in printed and "GOVHUB_LEDGER_KEY_FILE" in printed
    old.refresh_from_db()
    assert old.valid_until is not None and new.valid_until is None
    # the running process still holds the old key, which is retired now: it stops signing
    with pytest.raises(keys.KeyRetired):
        keys.active()
