from __future__ import annotations

import functools
import hmac
import json

from django.db import connection, transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from apps import audit
from apps.core import context, permissions, sql

from . import authcache
from .models import TOKEN_PREFIX, ApiToken, Membership, User, hash_token


@functools.cache
def _query() -> tuple[str, list[str], list[str]]:
    """The token, its account and the account's project roles in one prepared statement: the
    hottest query there is (every pipeline call), where the ORM's select_related and a second
    query for the memberships cost more than the work itself. Its rows are cached per process
    while the authorization generation holds (authcache.py)."""
    token_cols = [f.attname for f in ApiToken._meta.concrete_fields]
    user_cols = [f.attname for f in User._meta.concrete_fields]
    select = ", ".join([*(f"t.{c}" for c in token_cols), *(f"u.{c}" for c in user_cols)])
    sql = (f"SELECT {select}, (SELECT coalesce(json_agg(json_build_array(m.project_id, m.role)), '[]')::text"  # noqa: S608 - model metadata
           f" FROM {Membership._meta.db_table} m WHERE m.user_id = u.id)"
           f" FROM {ApiToken._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id WHERE t.key_id = %s")
    return sql, token_cols, user_cols


def _load(key_id: str) -> ApiToken | None:
    sql_text, token_cols, user_cols = _query()
    gen = authcache.generation()  # before the database: a copy is never tagged newer than it is
    row = authcache.get(key_id, gen)
    if row is None:
        with connection.wrap_database_errors:
            found = sql.rows(sql_text, [key_id], binary=False, prepare=True)
        if not found:
            return None
        row = found[0]
        authcache.put(key_id, gen, row)
    token = ApiToken.from_db(connection.alias, token_cols, row[:len(token_cols)])
    user = User.from_db(connection.alias, user_cols, row[len(token_cols):-1])
    permissions.prime_role_cache(user, {pid: role for pid, role in json.loads(row[-1])})
    token.user = user
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer ghb_<key id>_<secret>``. The key id finds the row; the stored
    SHA-256 is compared in constant time; revoked and expired tokens are refused."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        return self.authenticate_token(parts[1])

    def authenticate_token(self, raw: str):
        pieces = raw.split("_", 2)
        if len(pieces) != 3 or pieces[0] != TOKEN_PREFIX:
            raise exceptions.AuthenticationFailed("Malformed API token.")
        token = _load(pieces[1])
        if token is None or not hmac.compare_digest(token.digest, hash_token(raw)):
            raise exceptions.AuthenticationFailed("Invalid API token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API token has been revoked.")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API token has expired.")
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed("The account of this API token is deactivated.")
        actor = context.Actor(user_id=user.pk, label=f"{user.get_username()} (token {token.key_id})", kind=user.kind)
        if token.last_used_at is None or now - token.last_used_at > token.touch_interval():
            # At most one write a minute per token: usage is visible without a write per call.
            # Compare-and-swap, so concurrent requests record one use, in the ledger too.
            with transaction.atomic():
                if ApiToken.objects.filter(pk=token.pk, last_used_at=token.last_used_at).update(last_used_at=now):
                    audit.record("accounts.apitoken.use", token, actor=actor,
                                 extra={"key_id": token.key_id, "scope": token.scope, "previous_use": token.last_used_at})
            # Used just now (by this call or a concurrent one): the cached copy says so, so the next
            # calls here do not try the same compare-and-swap again.
            authcache.touched(token.key_id, _query()[1].index("last_used_at"), now)
        user._govhub_token_scope = token.scope
        user._govhub_token_id = token.pk
        context.set_actor(actor)
        return user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="govhub"'
