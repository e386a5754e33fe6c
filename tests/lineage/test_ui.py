"""Lineage pages: a job's run history, a run, a dataset's column lineage, and the asset panel."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.staticfiles import finders
from django.template import Context, Template

from apps.catalog.models import Asset
from apps.lineage.models import Job, Run
from tests.lineage.conftest import ds, run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def do(user):
        client.force_login(user)
        return client

    return do


def test_job_page_shows_the_run_history(login, owner, post_event):
    for i in range(3):
        post_event(run_event("nightly.build", [ds("s3://l", "src")], [ds("s3://l", "dst")], run_id=str(uuid.uuid4()),
                             event_type="FAIL" if i == 1 else "COMPLETE"))
    job = Job.objects.get(name="nightly.build")
    page = login(owner).get(f"/lineage/jobs/{job.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("data-run=") == 3 and "Failed" in html and "Completed" in html
    assert f'data-root="job:{job.pk}"' in html and "lineage/graph.js" in html
    assert login(owner).get("/lineage/jobs/").status_code == 200
    run = Run.objects.filter(job=job).first()
    run_page = login(owner).get(f"/lineage/runs/{run.pk}/")
    assert run_page.status_code == 200 and "src" in run_page.content.decode()


def test_pages_are_restricted(client, outsider, post_event):
    post_event(run_event("private.job", [ds("s3://l", "a")], [ds("s3://l", "b")]))
    job = Job.objects.get(name="private.job")
    client.force_login(outsider)
    assert client.get(f"/lineage/jobs/{job.pk}/").status_code == 404
    assert client.get(f"/lineage/assets/{Asset.objects.get(name='b').pk}/columns/").status_code == 404
    client.logout()
    assert client.get(f"/lineage/jobs/{job.pk}/").status_code == 302  # to the sign-in page


def test_column_lineage_page(login, owner, post_event):
    cl = {"fields": {"email_hash": {"inputFields": [{"namespace": "s3://l", "name": "users", "field": "email",
                                                    "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION", "masking": True}]}]}}}
    post_event(run_event("mask", [ds("s3://l", "users", schema={"fields": [{"name": "email", "type": "VARCHAR"}]})],
                         [ds("s3://l", "users_masked", columnLineage=cl)]))
    page = login(owner).get(f"/lineage/assets/{Asset.objects.get(name='users_masked').pk}/columns/")
    html = page.content.decode()
    assert page.status_code == 200 and "email_hash" in html and "masked" in html and "TRANSFORMATION" in html
    upstream = login(owner).get(f"/lineage/assets/{Asset.objects.get(name='users').pk}/columns/").content.decode()
    assert "VARCHAR" in upstream and "users_masked" in upstream


def test_asset_panel_include(rf, owner, make_dataset):
    asset = make_dataset(name="panelled")
    request = rf.get("/")
    request.user = owner
    html = Template('{% include "lineage/_asset_panel.html" with asset=asset %}').render(Context({"asset": asset, "request": request}))
    assert f'data-root="asset:{asset.pk}"' in html and 'data-url="/api/v1/lineage/graph"' in html
    assert f'data-url="/api/v1/lineage/constraints/{asset.pk}"' in html
    assert "Constraints inherited from upstream" in html and f"/lineage/assets/{asset.pk}/columns/" in html
    assert "<script" in html and "cdn" not in html.lower() and "http://" not in html and "https://" not in html


def test_static_files_are_ours():
    for name in ("lineage/graph.js", "lineage/graph.css"):
        path = finders.find(name)
        assert path, name
        text = open(path).read()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
