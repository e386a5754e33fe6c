"""Telling people: a Notification row (in the same transaction as the change it reports) and an
email through Django's email backend once that transaction commits (console in development)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps import audit
from apps.accounts.models import Membership, User

from .models import Notification

log = logging.getLogger(__name__)


def accountable_person(user: User) -> User:
    """A service account answers through its owner."""
    return user.owner if user.is_service_account and user.owner_id else user


def notify(user: User, kind: str, subject: str, body: str, *, project_id: int | None = None,
           job_id: int | None = None) -> Notification:
    with transaction.atomic():
        person = accountable_person(user)
        note = Notification.objects.create(user=person, kind=kind, subject=subject[:300], body=body,
                                           project_id=project_id, job_id=job_id)
        audit.record("dispatch.notification.create", note, object_repr=subject[:300], project_id=project_id,
                     after={"user": person.pk, "kind": kind, "job": job_id})
        transaction.on_commit(lambda: _email_later(note.pk))
    return note


def notify_project_owners(project_id: int, kind: str, subject: str, body: str, *, roles: tuple[str, ...] = ("data_steward",)) -> list[Notification]:
    people = User.objects.filter(pk__in=Membership.objects.filter(project_id=project_id, role__in=roles).values("user_id"), is_active=True)
    return [notify(p, kind, subject, body, project_id=project_id) for p in people]


def _email_later(notification_id: int) -> None:
    from workers.dispatch_tasks import email_notification

    email_notification.delay(notification_id)


def send_email(notification_id: int) -> bool:
    """Email one notification (once); True when sent now."""
    note = Notification.objects.select_related("user").filter(pk=notification_id, emailed_at__isnull=True).first()
    if note is None or not note.user.email:
        return False
    send_mail(f"[govhub] {note.subject}", note.body, settings.DEFAULT_FROM_EMAIL, [note.user.email], fail_silently=False)
    Notification.objects.filter(pk=note.pk).update(emailed_at=timezone.now())
    return True


def unread_for(user: Any) -> int:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()
