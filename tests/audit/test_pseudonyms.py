"""Personal data stays out of the leaves (keyed pseudonyms), erasure keeps every proof valid,
and sign-ins and API token use are audit events."""

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.audit import pseudonyms, sequencer
from apps.audit.erasure import erase_subject
from apps.audit.leaf import SELECT_COLUMNS, leaf_bytes
from apps.audit.models import AuditEvent, Checkpoint, LogEntry, SubjectKey
from apps.audit.verify import verify_ledger
from apps.core import context

pytestmark = pytest.mark.django_db


def leaf_of(event: AuditEvent) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {SELECT_COLUMNS} FROM audit_auditevent e WHERE e.id = %s", [event.pk])
        return leaf_bytes(cur.fetchone(), 0).decode()


@pytest.fixture
def person(actor_context):
    from apps.accounts import services

    return services.create_person("erin", password="correct-horse-battery", email="erin@example.org",
                                  first_name="Erin", last_name="Example")


def test_leaves_hold_pseudonyms_not_names(person, project, make_dataset):
    created = AuditEvent.objects.get(action="accounts.user.create", object_id=str(person.pk))
    leaf = leaf_of(created)
    for secret in ("erin", "erin@example.org", "Erin", "Example"):
        assert secret not in leaf
    assert json.loads(leaf)["event"]["after"]["email"].startswith("ps:")
    assert created.after["email"] == "erin@example.org"  # the operational row still shows it
    with context.acting_as(person):
        ds = make_dataset()
    event = AuditEvent.objects.get(action="catalog.dataset.create", object_id=str(ds.pk))
    actor = json.loads(leaf_of(event))["event"]["actor"]
    assert actor["kind"] == "human" and actor["ref"].startswith("ps:") and "label" not in actor
    assert event.actor_label == "erin"
    # the same person has the same pseudonym everywhere; govhub can resolve it while the key exists
    with context.acting_as(person):
        ds2 = make_dataset()
    other = AuditEvent.objects.get(action="catalog.dataset.create", object_id=str(ds2.pk))
    assert json.loads(leaf_of(other))["event"]["actor"]["ref"] == actor["ref"]
    assert pseudonyms.resolve(actor["ref"]) == f"user:{person.pk}"


def test_erasure_destroys_the_key_blanks_the_text_and_keeps_every_proof(person, make_dataset):
    with context.acting_as(person):
        make_dataset()
    sequencer.sequence()
    ref = pseudonyms.pseudonym(f"user:{person.pk}", "actor", f"user:{person.pk}")
    leaves_before = dict(LogEntry.objects.values_list("event_id", "leaf_hash"))
    redacted = erase_subject(person.pk, reason="DSAR-2026-17")
    assert redacted >= 2
    key = SubjectKey.objects.get(subject=f"user:{person.pk}")
    assert key.key is None and key.erased_at is not None
    erased_actor = AuditEvent.objects.filter(pseudonyms__actor__0="erased")
    assert erased_actor.count() >= 1
    for event in erased_actor:
        assert event.actor_label == "[erased]" and event.actor_id is None
    user_event = AuditEvent.objects.get(action="accounts.user.create", object_id=str(person.pk))
    assert user_event.object_repr == "[erased]" and user_event.after["email"] is None
    assert "erin" not in json.dumps([list(e) for e in AuditEvent.objects.values_list("actor_label", "object_repr", "before", "after")])
    # no leaf changed, the whole tree still verifies, and the erasure is itself on the record
    assert {k: bytes(h) for k, h in leaves_before.items()} == {
        k: bytes(h) for k, h in LogEntry.objects.filter(event_id__in=leaves_before).values_list("event_id", "leaf_hash")}
    sequencer.sequence()
    assert verify_ledger().ok
    erase_event = AuditEvent.objects.get(action="audit.subject.erase")
    assert erase_event.object_id == ref and erase_event.extra["events_redacted"] == redacted
    # later events about the erased person get unlinkable one-off pseudonyms
    pseudonyms.forget_cached()
    assert pseudonyms.pseudonym(f"user:{person.pk}", "actor", "x") != pseudonyms.pseudonym(f"user:{person.pk}", "actor", "x")
    assert pseudonyms.resolve(ref) is None


def test_erasure_command(person, capsys):
    call_command("ledger_erase_subject", str(person.pk), "--reason", "DSAR-1")
    assert "key destroyed" in capsys.readouterr().out


def test_the_erasure_exception_of_the_trigger_is_narrow(person):
    event = AuditEvent.objects.get(action="accounts.user.create", object_id=str(person.pk))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET actor_label = '[erased]' WHERE id = %s", [event.pk])  # no GUC
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL govhub.ledger_erasure = 'on'")
        cur.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [event.pk])  # a leaf column
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL govhub.ledger_erasure = 'on'")
        cur.execute("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE id = %s", [event.pk])  # only blanking
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL govhub.ledger_erasure = 'on'")
        cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])


def test_logins_and_failed_logins_are_recorded(client, person):
    assert client.login(username="erin", password="correct-horse-battery")
    login = AuditEvent.objects.get(action="accounts.user.login")
    assert login.actor_id == person.pk and login.object_id == str(person.pk)
    assert not client.login(username="erin", password="wrong")
    assert not client.login(username="ghost", password="wrong")
    failed = list(AuditEvent.objects.filter(action="accounts.user.login_failed").order_by("id"))
    assert [f.object_id for f in failed] == [str(person.pk), ""]
    assert failed[1].extra["username"] == "ghost" and failed[1].actor_kind == "anonymous"
    assert "ghost" not in leaf_of(failed[1]) and "erin" not in leaf_of(failed[0])


def test_api_token_use_is_recorded_at_most_once_a_minute(api, pipeline, monkeypatch):
    from apps.accounts import authentication

    account, raw = pipeline
    client = api.with_token(raw)
    for _ in range(3):
        assert client.get("/api/v1/datasets/").status_code == 200
    uses = AuditEvent.objects.filter(action="accounts.apitoken.use")
    assert uses.count() == 1
    use = uses.get()
    assert use.actor_id == account.pk and use.project_id == account.service_project_id
    later = timezone.now() + dt.timedelta(minutes=2)  # two minutes pass (the cached token copy ages with them)
    monkeypatch.setattr(authentication.timezone, "now", lambda: later)
    assert client.get("/api/v1/datasets/").status_code == 200
    assert client.get("/api/v1/datasets/").status_code == 200
    assert uses.count() == 2
    assert account.api_tokens.get().last_used_at == later


def test_every_checkpoint_after_erasure_still_verifies(person):
    sequencer.sequence()
    erase_subject(person.pk, reason="x")
    sequencer.sequence()
    assert Checkpoint.objects.count() >= 2 and verify_ledger().ok
