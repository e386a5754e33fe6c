"""manage.py issue_token SERVICE_ACCOUNT --project P --scope read|write [--expires DAYS] [--owner USER]

For pipeline set-up scripts: creates the service account in the project if needed and prints a
new token once (only its hash is stored)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts import services
from apps.accounts.models import Project, TokenScope, User, UserKind
from apps.core import context


class Command(BaseCommand):
    help = "Create a service account if needed and print a new API token for it, once."

    def add_arguments(self, parser):
        parser.add_argument("account", help="service account username, e.g. etl-pipeline")
        parser.add_argument("--project", required=True, help="project slug the account belongs to")
        parser.add_argument("--scope", choices=TokenScope.values, default=TokenScope.READ)
        parser.add_argument("--expires", type=int, default=90, metavar="DAYS", help="days until expiry (1-366, default 90)")
        parser.add_argument("--owner", help="the person accountable for a new account (default: the first administrator)")
        parser.add_argument("--name", default="", help="token name (default: cli-<scope>)")

    def handle(self, *args, **opts):
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {opts['project']!r}. Projects: {', '.join(Project.objects.values_list('slug', flat=True)) or 'none'}.")
        with context.acting_as(context.Actor(user_id=None, label="cli:issue_token", kind="system")), transaction.atomic():
            account = User.objects.filter(username=opts["account"]).first()
            if account is None:
                owner = self._owner(opts.get("owner"))
                try:
                    account = services.create_service_account(opts["account"], owner=owner, project=project)
                except ValidationError as exc:
                    raise CommandError(_messages(exc)) from exc
                self.stderr.write(f"Created service account {account} in project {project}, owned by {owner}.")
            elif account.kind != UserKind.SERVICE:
                raise CommandError(f"{account} is a person, not a service account; people sign in instead of using tokens.")
            elif account.service_project_id != project.pk:
                raise CommandError(f"{account} belongs to project {account.service_project}, not {project}.")
            elif not account.is_active:
                raise CommandError(f"{account} is deactivated.")
            try:
                token, raw = services.issue_token(account, name=opts["name"] or f"cli-{opts['scope']}", scope=opts["scope"],
                                                  expires_in_days=opts["expires"])
            except ValidationError as exc:
                raise CommandError(_messages(exc)) from exc
        self.stderr.write(f"Token {token.key_id} ({token.scope}) expires {token.expires_at:%Y-%m-%d}. It is shown only now:")
        self.stdout.write(raw)

    def _owner(self, username: str | None) -> User:
        if username:
            owner = User.objects.filter(username=username, kind=UserKind.HUMAN).first()
            if owner is None:
                raise CommandError(f"No person with username {username!r} to own the service account.")
            return owner
        owner = User.objects.filter(kind=UserKind.HUMAN, is_superuser=True, is_active=True).order_by("pk").first() or \
            User.objects.filter(kind=UserKind.HUMAN, org_role="administrator", is_active=True).order_by("pk").first()
        if owner is None:
            raise CommandError("No administrator exists to own the new service account; pass --owner USER.")
        return owner


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(m for e in v for m in e.messages)}" for k, v in exc.error_dict.items())
    return " ".join(exc.messages)
