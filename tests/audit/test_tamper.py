"""``manage.py audit_verify`` recomputes the tree from the tables and names the first event that
does not match. Tampering needs the trigger off, which only a superuser can do: the test
connection is one, exactly the attacker the Merkle tree is for."""

import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit import sequencer
from apps.audit.models import AuditEvent, LogEntry, VerificationRun
from tests.utils import REPO, database_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(make_dataset, owner):
    for i in range(6):
        make_dataset(description=f"dataset number {i}")
    sequencer.sequence()
    return list(LogEntry.objects.order_by("log_index").values_list("log_index", "event_id"))


def tamper(sql: str, params=(), table: str = "audit_auditevent") -> None:
    with connection.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cur.execute(sql, params)
        cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def verify_fails() -> str:
    with pytest.raises(CommandError) as exc:
        call_command("audit_verify")
    return str(exc.value)


def test_untouched_ledger_verifies_and_the_result_is_recorded(ledger, capsys):
    call_command("audit_verify")
    assert "OK:" in capsys.readouterr().out
    run = VerificationRun.objects.get()
    assert run.ok and run.events_checked == len(ledger) and run.trigger == "command"


def test_changing_one_byte_of_one_event_is_named(ledger):
    index, event_id = ledger[3]
    event = AuditEvent.objects.get(pk=event_id)
    forged = event.action[:-1] + chr(ord(event.action[-1]) ^ 1)
    tamper("UPDATE audit_auditevent SET action = %s WHERE id = %s", [forged, event_id])
    message = verify_fails()
    assert f"event {event_id} (log index {index}) does not match its leaf hash" in message
    assert VerificationRun.objects.get().first_bad_event_id == event_id


def test_changing_a_payload_value_is_named(ledger):
    index, event_id = ledger[-1]
    tamper("UPDATE audit_auditevent SET after = jsonb_set(after, '{description}', '\"dataset number 9\"') WHERE id = %s", [event_id])
    assert f"event {event_id} (log index {index})" in verify_fails()


def test_deleting_an_event_is_named(ledger):
    index, event_id = ledger[2]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [event_id])
    assert f"event {event_id} (log index {index}) is missing from audit_auditevent: it was deleted" in verify_fails()


def test_reordering_two_events_is_named(ledger):
    (i1, a), (_i2, b) = ledger[1], ledger[4]
    tamper("UPDATE audit_auditevent SET id = -id WHERE id IN (%s, %s)", [a, b])
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = %s", [b, -a])
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = %s", [a, -b])
    assert f"event {a} (log index {i1}) does not match its leaf hash" in verify_fails()


def test_reordering_log_entries_is_named(ledger):
    (i1, a), (i2, b) = ledger[1], ledger[2]
    tamper("UPDATE audit_logentry SET event_id = -event_id WHERE log_index IN (%s, %s)", [i1, i2], table="audit_logentry")
    tamper("UPDATE audit_logentry SET event_id = %s WHERE log_index = %s", [b, i1], table="audit_logentry")
    tamper("UPDATE audit_logentry SET event_id = %s WHERE log_index = %s", [a, i2], table="audit_logentry")
    assert f"event {b} (log index {i1}) does not match its leaf hash" in verify_fails()


def test_rewriting_the_log_table_consistently_is_caught_by_the_signed_root(ledger):
    """An attacker who changes an event and recomputes its stored leaf hash still cannot sign."""
    from apps.audit import merkle
    from apps.audit.leaf import SELECT_COLUMNS, leaf_bytes

    index, event_id = ledger[2]
    tamper("UPDATE audit_auditevent SET action = 'catalog.dataset.forged' WHERE id = %s", [event_id])
    with connection.cursor() as cur:
        cur.execute(f"SELECT {SELECT_COLUMNS} FROM audit_auditevent e WHERE e.id = %s", [event_id])
        forged_leaf = merkle.leaf_hash(leaf_bytes(cur.fetchone(), index))
    tamper("UPDATE audit_logentry SET leaf_hash = %s WHERE log_index = %s", [forged_leaf, index], table="audit_logentry")
    message = verify_fails()
    assert "differs from the signed checkpoint" in message and f"log indices 0..{len(ledger) - 1}" in message


def test_truncating_the_log_is_caught(ledger):
    tamper("DELETE FROM audit_logentry WHERE log_index = %s", [ledger[-1][0]], table="audit_logentry")
    assert "log entries were removed" in verify_fails()


def test_the_triggers_still_refuse_changes_to_the_tree_tables(ledger):
    from django.db import DatabaseError, transaction

    for sql in ("UPDATE audit_logentry SET event_id = 0", "DELETE FROM audit_treenode", "UPDATE audit_checkpoint SET note = ''",
                "UPDATE audit_auditevent SET actor_label = '[erased]'"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)


@pytest.mark.django_db(transaction=True)
def test_audit_verify_exits_non_zero_from_the_shell(make_dataset, owner):
    for _ in range(3):
        make_dataset()
    sequencer.sequence()
    env = {"DATABASE_URL": database_url(connection.settings_dict), "GOVHUB_ENV": "test"}
    cmd = [sys.executable, "manage.py", "audit_verify", "--no-record"]
    ok = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    event_id = AuditEvent.objects.filter(action="catalog.dataset.create").order_by("id").values_list("id", flat=True)[1]
    tamper("UPDATE audit_auditevent SET object_repr = object_repr || 'x' WHERE id = %s", [event_id])
    bad = subprocess.run(cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"event {event_id}" in bad.stderr and "does not match its leaf hash" in bad.stderr
