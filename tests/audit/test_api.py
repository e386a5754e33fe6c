"""/api/v1/ledger/: checkpoint, keys, inclusion and consistency proofs; who may read them; clear
4xx errors for bad input."""

import base64

import pytest

from apps.audit import sequencer
from apps.audit.models import AuditEvent, Checkpoint, LogEntry
from tools import verify_export as v

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(make_dataset, owner, outsider, other_project, actor_context):
    from apps.catalog import services

    ours = [make_dataset() for _ in range(3)]
    sequencer.sequence()
    theirs = services.create_asset("dataset", {"project": other_project, "namespace": "s3://bank", "name": "tx"})
    sequencer.sequence()
    return ours, theirs


def _event(obj):
    return AuditEvent.objects.filter(object_type="catalog.asset", object_id=str(obj.pk)).latest("id")


def test_checkpoint_and_keys(api, auditor, ledger):
    client = api.as_user(auditor)
    body = client.get("/api/v1/ledger/checkpoint").json()
    latest = Checkpoint.objects.order_by("-tree_size").first()
    assert body["tree_size"] == latest.tree_size and body["note"] == latest.note
    assert base64.b64decode(body["root_hash_base64"]) == bytes.fromhex(body["root_hash"]) == bytes(latest.root_hash)
    older = Checkpoint.objects.order_by("tree_size").first()
    assert client.get(f"/api/v1/ledger/checkpoint?tree_size={older.tree_size}").json()["tree_size"] == older.tree_size
    keys = client.get("/api/v1/ledger/keys").json()["keys"]
    assert keys[0]["key_id"] == body["key_id"] and keys[0]["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    name, pub = v.parse_vkey(keys[0]["vkey"])
    assert v.verify_note(body["note"], {v.key_hash(name, pub): (name, pub)})


def test_inclusion_proof_verifies_against_the_signed_root(api, compliance, ledger):
    ours, _ = ledger
    event = _event(ours[0])
    body = api.as_user(compliance).get(f"/api/v1/ledger/proofs/inclusion?event_id={event.pk}").json()
    root = v.parse_checkpoint(v.split_note(body["checkpoint"])[0])[2]
    leaf = body["leaf"].encode()
    assert bytes.fromhex(body["leaf_hash"]) == v.hashlib.sha256(b"\x00" + leaf).digest()
    assert v.verify_inclusion(bytes.fromhex(body["leaf_hash"]), body["log_index"], body["tree_size"],
                              [bytes.fromhex(h) for h in body["inclusion_path"]], root)
    assert v.json.loads(leaf)["event"]["event_id"] == event.pk


def test_consistency_proof_between_two_checkpoints(api, admin_user, ledger):
    sizes = sorted(Checkpoint.objects.values_list("tree_size", flat=True))
    body = api.as_user(admin_user).get(f"/api/v1/ledger/proofs/consistency?first={sizes[0]}&second={sizes[-1]}").json()
    r1 = v.parse_checkpoint(v.split_note(body["first_checkpoint"])[0])[2]
    r2 = v.parse_checkpoint(v.split_note(body["second_checkpoint"])[0])[2]
    assert v.verify_consistency(sizes[0], sizes[-1], r1, r2, [bytes.fromhex(h) for h in body["consistency_path"]])


def test_project_members_get_proofs_only_for_their_projects_events(api, member, ledger):
    ours, theirs = ledger
    client = api.as_user(member)
    assert client.get(f"/api/v1/ledger/proofs/inclusion?event_id={_event(ours[1]).pk}").status_code == 200
    hidden = client.get(f"/api/v1/ledger/proofs/inclusion?event_id={_event(theirs).pk}")
    assert hidden.status_code == 404 and "that you may see" in hidden.json()["error"]["detail"]
    assert client.get("/api/v1/ledger/checkpoint").status_code == 200  # a root names no event


def test_anonymous_and_unprivileged_users_are_refused(api, ledger, actor_context):
    from apps.accounts import services

    assert api.get("/api/v1/ledger/checkpoint").status_code in (401, 403)
    nobody = services.create_person("nobody", password="correct-horse-battery")
    response = api.as_user(nobody).get("/api/v1/ledger/checkpoint")
    assert response.status_code == 403 and "audit ledger" in response.json()["error"]["detail"]


def test_bad_input_gets_clear_4xx(api, auditor, ledger):
    client = api.as_user(auditor)
    latest = Checkpoint.objects.order_by("-tree_size").first().tree_size

    def err(url, status):
        response = client.get(url)
        assert response.status_code == status, response.content
        return response.json()["error"]

    assert err("/api/v1/ledger/proofs/inclusion", 400)["fields"] == {"event_id": ["This parameter is required."]}
    assert "whole number" in err("/api/v1/ledger/proofs/inclusion?event_id=abc", 400)["fields"]["event_id"][0]
    assert "no audit event 999999" in err("/api/v1/ledger/proofs/inclusion?event_id=999999", 404)["detail"]
    first_event = LogEntry.objects.get(log_index=latest - 1).event_id
    early = Checkpoint.objects.order_by("tree_size").first().tree_size
    if early < latest:
        assert "does not contain it" in err(f"/api/v1/ledger/proofs/inclusion?event_id={first_event}&tree_size={early}", 400)["fields"]["tree_size"][0]
    assert "No signed checkpoint has tree size" in err(f"/api/v1/ledger/checkpoint?tree_size={latest + 10}", 400)["detail"]
    first_err = err(f"/api/v1/ledger/proofs/consistency?first={latest}&second=1", 400)
    assert "first" in first_err["fields"] and "must not be larger than second" in first_err["fields"]["first"][0]
    assert "first" in err("/api/v1/ledger/proofs/consistency", 400)["fields"]
    assert "at least 1" in err("/api/v1/ledger/proofs/consistency?first=0", 400)["fields"]["first"][0]


def test_event_not_yet_sequenced_is_a_clear_404(api, auditor, ledger, make_dataset):
    fresh = make_dataset()
    response = api.as_user(auditor).get(f"/api/v1/ledger/proofs/inclusion?event_id={_event(fresh).pk}")
    assert response.status_code == 404 and "not in the log yet" in response.json()["error"]["detail"]


def test_no_checkpoint_yet_is_a_404(api, auditor):
    assert AuditEvent.objects.exists() and not Checkpoint.objects.exists()
    response = api.as_user(auditor).get("/api/v1/ledger/checkpoint")
    assert response.status_code == 404 and "no signed checkpoint yet" in response.json()["error"]["detail"]
