"""GDPR Art. 17 erasure of a person from the ledger without breaking a single proof.

1. The subject's pseudonym key is destroyed (``audit_subjectkey``: key NULL, erased_at set), so
   no one — govhub included — can link the pseudonyms in the tree, in published checkpoints or in
   exported bundles back to the person.
2. The plain-text personal columns of the person's events (``actor_label``, ``actor_id``,
   ``object_repr`` and the personal snapshot fields) are blanked, through the one UPDATE the
   events trigger allows (``SET LOCAL govhub.ledger_erasure = 'on'``, identifying columns
   unchanged).
3. Every redacted event that is already in the tree has its leaf recomputed and compared with the
   stored leaf hash before commit: the leaves only ever held pseudonyms, so nothing changes; if
   anything did, the whole erasure rolls back.
4. The erasure itself is an audit event, naming the person only by their (now dead) pseudonym.

The account row (``accounts.User``) is anonymised by the accounts app, not here.
"""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.utils import timezone

from . import merkle, pseudonyms
from .leaf import SELECT_COLUMNS, leaf_bytes
from .models import SubjectKey

_FIND_SQL = """
SELECT id, actor_label, actor_id, object_repr, before, after, extra, pseudonyms FROM audit_auditevent
WHERE jsonb_path_exists(pseudonyms, '$.* ? (@[0] == $s)', jsonb_build_object('s', %s::text))
ORDER BY id FOR UPDATE
"""
_UPDATE_SQL = """
UPDATE audit_auditevent SET actor_label = %s, actor_id = %s, object_repr = %s, before = %s::jsonb, after = %s::jsonb,
    extra = %s::jsonb, pseudonyms = %s::jsonb WHERE id = %s
"""


class ErasureError(RuntimeError):
    pass


def _loads(value):
    return json.loads(value) if isinstance(value, str) else value


def _dumps(value) -> str | None:
    return None if value is None else json.dumps(value)


def erase_subject(user_id: int, *, reason: str = "") -> int:
    """Erase user ``user_id`` from the ledger's plain text; returns the number of events redacted."""
    from apps import audit

    subject = f"user:{user_id}"
    with transaction.atomic():
        ref = pseudonyms.pseudonym(subject, "actor", subject)  # before the key goes: names the erasure
        key, _ = SubjectKey.objects.select_for_update().get_or_create(subject=subject, defaults={"created_at": timezone.now()})
        key.key, key.erased_at = None, timezone.now()
        key.save(update_fields=["key", "erased_at"])
        pseudonyms.forget_cached(subject)
        redacted = []
        with connection.cursor() as cur:
            cur.execute(_FIND_SQL, [subject])
            rows = cur.fetchall()
            cur.execute("SET LOCAL govhub.ledger_erasure = 'on'")
            for event_id, actor_label, actor_id, object_repr, before, after, extra, refs in rows:
                refs = _loads(refs)
                sections = {"before": _loads(before), "after": _loads(after), "extra": _loads(extra)}
                mine = {path for path, (owner, _ref) in refs.items() if owner == subject}
                if "actor" in mine:
                    actor_label, actor_id = pseudonyms.ERASED, None
                if "object_repr" in mine:
                    object_repr = pseudonyms.ERASED
                for path in mine:
                    section, _, name = path.partition(".")
                    if name and isinstance(sections.get(section), dict) and name in sections[section]:
                        sections[section] = {**sections[section], name: None}
                refs = {path: (["erased", pair[1]] if path in mine else pair) for path, pair in refs.items()}
                cur.execute(_UPDATE_SQL, [actor_label, actor_id, object_repr, *(_dumps(sections[k]) for k in ("before", "after", "extra")),
                                          json.dumps(refs), event_id])
                redacted.append(event_id)
            cur.execute("SET LOCAL govhub.ledger_erasure = 'off'")
            if redacted:
                cur.execute(f"SELECT l.log_index, l.leaf_hash, {SELECT_COLUMNS} FROM audit_logentry l"  # noqa: S608 (constant columns)
                            " JOIN audit_auditevent e ON e.id = l.event_id WHERE l.event_id = ANY(%s)", [redacted])
                for row in cur.fetchall():
                    if merkle.leaf_hash(leaf_bytes(row[2:], row[0])) != bytes(row[1]):
                        raise ErasureError(f"erasing event {row[2]} would change its leaf; nothing was erased")
        audit.record("audit.subject.erase", object_type="audit.subject", object_id=ref, object_repr="",
                     extra={"events_redacted": len(redacted), "reason": reason[:500]})
    return len(redacted)
