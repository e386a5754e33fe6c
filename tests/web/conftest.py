"""Web UI fixtures on top of the project personas (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone


@pytest.fixture
def login(client):
    """``login(user)`` signs the test client in as ``user`` and returns the client. Each request
    loads a fresh user object from the session, so cached roles never leak between requests."""

    def do(user):
        client.force_login(user)
        return client

    return do


@pytest.fixture
def make_consent(project, actor_context, reference_data):
    from apps.catalog import services

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        defaults = {"project": project, "reference": f"REF-{counter['n']}", "legal_basis": "consent",
                    "purposes": ["research.medical"], "jurisdiction_scope": ["EU"],
                    "valid_from": timezone.now() - dt.timedelta(days=10)}
        defaults.update(fields)
        return services.create_consent(defaults)

    return make


@pytest.fixture
def make_model(project, actor_context, reference_data):
    from apps.catalog import services

    counter = {"n": 0}

    def make(kind="model", training_datasets=None, **fields):
        counter["n"] += 1
        defaults = {"project": project, "namespace": "s3://models", "name": f"model-{counter['n']}", "classification": "internal"}
        defaults.update(fields)
        return services.create_asset(kind, defaults, training_datasets=training_datasets)

    return make
