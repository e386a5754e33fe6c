"""In a real headless Chromium: the asset panel draws the lineage graph from static/ (no CDN), lists
the constraints inherited from upstream with their source, and a click on a job opens its run
history. Screenshots go to /tmp/govhub-lineage-*.png."""

from __future__ import annotations

import pytest
from django.db import connections

from apps.catalog import services as catalog
from apps.catalog.models import Asset, Jurisdiction
from apps.lineage.models import Job
from tests.lineage.conftest import ds, run_event

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.lineage.urls_panel"),
]


@pytest.fixture
def page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still
    # synchronous. Set for this test only (a module-level setting would leak into `check --deploy`).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        pg = context.new_page()
        requests_seen: list[str] = []
        pg.on("request", lambda r: requests_seen.append(r.url))
        pg.requests_seen = requests_seen
        yield pg
        context.close()
        browser.close()
        connections.close_all()


def test_panel_draws_the_graph_and_the_inherited_constraints(page, live_server, lineage_api, owner, project, eager_tasks, actor_context):
    from playwright.sync_api import expect

    consent = catalog.create_consent({"project": project, "reference": "ONCO", "legal_basis": "consent", "purposes": ["research"]})
    catalog.create_asset("dataset", {"project": project, "namespace": "s3://h", "name": "patients", "consent": consent,
                                     "storage_jurisdiction": Jurisdiction.objects.get(code="DE"), "processing_jurisdictions": ["EU"]})
    lineage_api.post("/api/v1/lineage", run_event("prep", [ds("s3://h", "patients")], [ds("s3://h", "features", tags={"tags": [
        {"key": "jurisdiction", "value": "EU"}]})]), format="json")
    lineage_api.post("/api/v1/lineage", run_event("score", [ds("s3://h", "features")], [ds("s3://h", "scores")]), format="json")
    features = Asset.objects.get(name="features")
    base = live_server.url

    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/panel/{features.pk}/")

    nodes = page.locator(".lineage-canvas svg a.lg-node")
    expect(nodes).to_have_count(5)  # patients → prep → [features] → score → scores
    expect(page.locator("a.lg-root")).to_have_count(1)
    assert page.locator("a.lg-node.lg-unknown").count() == 1  # scores: residency unknown, drawn dashed
    body = page.locator(".lineage-constraints-body")
    expect(body).to_contain_text("May be processed in")
    expect(body).to_contain_text("EU")
    expect(body).to_contain_text("research")
    expect(body.get_by_role("link", name="patients").first).to_be_visible()
    page.screenshot(path="/tmp/govhub-lineage-panel.png", full_page=True)

    page.get_by_label("Direction").select_option("downstream")
    expect(nodes).to_have_count(3)
    assert not [u for u in page.requests_seen if not u.startswith(base)]  # air-gapped: nothing fetched from elsewhere

    page.locator("a.lg-job").first.click()
    score = Job.objects.get(name="score")
    expect(page).to_have_url(f"{base}/lineage/jobs/{score.pk}/")
    expect(page.locator("tr[data-run]")).to_have_count(1)
    expect(page.locator(".lineage-canvas svg a.lg-node")).to_have_count(5)  # the job, then features/scores, prep, patients
    page.screenshot(path="/tmp/govhub-lineage-job.png", full_page=True)
