"""Shared fixtures. Personas (healthchecks' BaseTestCase idea) prove isolation:

- ``owner``: data steward of ``project`` (writes its catalog)
- ``member``: ML engineer of ``project``
- ``outsider``: data steward of ``other_project`` only
- ``compliance``: the organisation's compliance officer (org-wide role)
- ``auditor``: org-wide, read-only
- ``admin``: superuser
"""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

os.environ.setdefault("GOVHUB_ENV", "test")


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield


@pytest.fixture
def reference_data(db):
    """Countries, blocs and purposes (loaded by migration; reloaded after a transactional flush)."""
    from apps.catalog.models import Jurisdiction, Purpose
    from apps.catalog.reference import load_reference_data

    if not Jurisdiction.objects.filter(code="EU").exists():
        load_reference_data(Jurisdiction, Purpose)


@pytest.fixture
def actor_context():
    from apps.core import context

    with context.acting_as(context.Actor(user_id=None, label="test", kind="system")):
        yield


@pytest.fixture
def project(db, actor_context):
    from apps.accounts import services

    return services.create_project({"slug": "health", "name": "Sovereign health"})


@pytest.fixture
def other_project(db, actor_context):
    from apps.accounts import services

    return services.create_project({"slug": "bank", "name": "Bank fraud"})


def _person(username: str, **kw):
    from apps.accounts import services

    return services.create_person(username, password="correct-horse-battery", **kw)


@pytest.fixture
def owner(project, actor_context):
    from apps.accounts import services

    user = _person("olga")
    services.set_membership(user, project, "data_steward")
    return user


@pytest.fixture
def member(project, actor_context):
    from apps.accounts import services

    user = _person("milan")
    services.set_membership(user, project, "ml_engineer")
    return user


@pytest.fixture
def outsider(other_project, actor_context):
    from apps.accounts import services

    user = _person("oscar")
    services.set_membership(user, other_project, "data_steward")
    return user


@pytest.fixture
def compliance(db, actor_context):
    return _person("clara", org_role="compliance_officer")


@pytest.fixture
def auditor(db, actor_context):
    return _person("aurel", org_role="auditor")


@pytest.fixture
def admin_user(db, actor_context):
    return _person("root", is_superuser=True)


@pytest.fixture
def api():
    """An API client; ``api.as_user(u)`` authenticates as a person (session-equivalent)."""

    class Client(APIClient):
        def as_user(self, user):
            self.force_authenticate(user=user)
            return self

        def with_token(self, raw: str):
            self.force_authenticate(user=None)
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
            return self

    return Client()


@pytest.fixture
def pipeline(project, member, actor_context):
    """A service account of ``project`` owned by ``member``, with a write token: (account, raw)."""
    from apps.accounts import services

    account = services.create_service_account("etl-pipeline", owner=member, project=project)
    _, raw = services.issue_token(account, name="ci", scope="write", expires_in_days=30)
    return account, raw


@pytest.fixture
def make_dataset(project, actor_context, reference_data):
    from apps.catalog import services

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        defaults = {"project": project, "namespace": "s3://test-bucket", "name": f"dataset-{counter['n']}",
                    "classification": "internal"}
        defaults.update(fields)
        return services.create_asset("dataset", defaults)

    return make


@pytest.fixture
def live_worker(transactional_db, reference_data):
    """A real Celery worker process on a private queue, against this test's database."""
    import uuid

    from django.db import connection

    from govhub.celery import app as celery_app
    from tests.utils import start_celery_worker, stop

    queue = f"test-{uuid.uuid4().hex[:10]}"
    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    proc = start_celery_worker(connection.settings_dict, queue)
    try:
        yield proc
    finally:
        celery_app.conf.task_default_queue = saved
        output = stop(proc)
        if proc.returncode not in (0, -15):
            print(output)
