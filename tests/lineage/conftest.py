"""Lineage fixtures: OpenLineage event builders and an API client with the pipeline's token."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
RUN_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def facet(**fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/X.json", **fields}


def ds(namespace: str, name: str, **facets: Any) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "facets": {k: facet(**v) for k, v in facets.items()}}


def run_event(job: str, inputs: list[dict] = (), outputs: list[dict] = (), *, event_type: str = "COMPLETE",
              run_id: str | None = None, namespace: str = "airflow", when: dt.datetime | None = None, **extra: Any) -> dict[str, Any]:
    when = when or dt.datetime.now(dt.UTC)
    event = {
        "eventType": event_type, "eventTime": when.isoformat(), "producer": PRODUCER, "schemaURL": RUN_SCHEMA,
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": list(inputs), "outputs": list(outputs),
    }
    event.update(extra)
    return event


def tags(**pairs: str) -> dict[str, Any]:
    return {"tags": [{"key": k, "value": v, "source": "USER"} for k, v in pairs.items()]}


@pytest.fixture
def eager_tasks(settings):
    """Celery tasks run in-process (``.delay`` calls them) for tests that commit."""
    from govhub.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


@pytest.fixture
def lineage_api(api, pipeline, reference_data):
    """The API client authenticated with the ``health`` pipeline's write token."""
    _, raw = pipeline
    return api.with_token(raw)


@pytest.fixture
def post_event(lineage_api):
    def post(event: Any, path: str = "/api/v1/lineage", **kw: Any):
        return lineage_api.post(path, event, format="json", **kw)

    return post


@pytest.fixture
def settle(django_capture_on_commit_callbacks, eager_tasks):
    """Run what was queued on commit (recomputations) now: ``with settle(): post(...)``."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run
