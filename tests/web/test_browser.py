"""End to end in a real headless Chromium: a data steward signs in, records a consent, registers
a dataset stored in DE and processed in the EU, finds it with the live search, and sees the
dashboard's DE figure go up. Screenshots go to /tmp/govhub-*.png for a visual check."""

from __future__ import annotations

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, so Django would refuse the
    # fixtures' (synchronous, safe) ORM calls. Set for this test only: left in os.environ it
    # would reach subprocesses of later tests (check --deploy rejects it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        pg = context.new_page()
        yield pg
        context.close()
        browser.close()
        # Inside the ``with``: Playwright runs this block under its own contextvars context, and
        # Django keeps connections per context, so the connection the fixtures opened here must
        # be closed here too (else it outlives the test and blocks dropping the test database).
        connections.close_all()


def _de_total(page) -> int:
    row = page.locator('tr[data-jurisdiction="DE"] td.total')
    return int(row.inner_text()) if row.count() else 0


def test_steward_registers_a_dataset_and_the_dashboard_counts_it(page, live_server, reference_data, owner, make_dataset):
    from playwright.sync_api import expect

    make_dataset(name="existing-cohort", storage_jurisdiction_id="DE")
    base = live_server.url

    # Sign in through the form; the skip link is the first stop for keyboard users.
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login/?next=/")
    first = "document.querySelector('a[href], button, input:not([type=hidden]), select, textarea')"
    assert page.evaluate(f"{first}.className") == "skip-link"
    page.locator(".skip-link").focus()
    assert page.locator(".skip-link").bounding_box()["y"] >= 0  # shown on focus, hidden off-screen otherwise
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert _de_total(page) == 1

    # Record the consent the data was collected under.
    page.goto(f"{base}/consents/new/")
    page.get_by_label("Reference").fill("CHARITE-ONCO-2025/117")
    page.get_by_label("Legal basis (GDPR Art. 6)").select_option("consent")
    page.get_by_label("research.medical — Medical research").check()
    page.get_by_label("Jurisdiction scope").fill("EU")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="CHARITE-ONCO-2025/117")).to_be_visible()

    # Register the dataset: stored in DE, processed in the EU, under that consent.
    page.goto(f"{base}/datasets/new/")
    page.get_by_label("Namespace").fill("s3://charite-onco")
    page.locator("#id_name").fill("oncology-imaging-2025")
    page.get_by_label("Classification").select_option("restricted")
    page.get_by_label("Contains personal data (PII)").check()
    page.get_by_label("Storage jurisdiction").select_option("DE")
    page.get_by_label("Processing jurisdictions").fill("EU")
    page.get_by_label("Consent").select_option(label="health · CHARITE-ONCO-2025/117 (Art. 6(1)(a) consent)")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="oncology-imaging-2025")).to_be_visible()
    expect(page.locator("main")).to_contain_text("DE — Germany")

    # Find it with the live search (htmx swaps the results without a page load).
    page.goto(f"{base}/datasets/")
    expect(page.locator("#results")).to_contain_text("existing-cohort")
    page.get_by_label("Search").press_sequentially("oncology", delay=30)
    expect(page.locator("#results")).not_to_contain_text("existing-cohort")
    expect(page.locator("#results")).to_contain_text("oncology-imaging-2025")
    expect(page.locator("#results-status")).to_have_text("1 dataset matches the filters")  # announced
    expect(page).to_have_url(f"{base}/datasets/?q=oncology", timeout=5000)
    page.screenshot(path="/tmp/govhub-datasets.png", full_page=True)
    page.get_by_role("link", name="oncology-imaging-2025").click()
    expect(page.locator("main")).to_contain_text("CHARITE-ONCO-2025/117")

    # The dashboard counts it under DE.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator('tr[data-jurisdiction="DE"] td.total')).to_have_text("2")
    page.screenshot(path="/tmp/govhub-dashboard.png", full_page=True)


def test_compliance_officer_tests_a_location_on_the_namespace_rules_page(page, live_server, reference_data, compliance,
                                                                        admin_user, owner, member, make_dataset, monkeypatch):
    """The location tester answers in place (htmx) and the reference pages look right.
    Screenshots: /tmp/govhub-reference*.png."""
    from playwright.sync_api import expect

    from apps.catalog import services as catalog
    from apps.catalog.models import Jurisdiction
    from apps.compute import services as compute
    from apps.core import context
    from workers import catalog_tasks

    # No broker round trip from this test: saving a rule queues the re-inference task.
    monkeypatch.setattr(catalog_tasks.reinfer_residency, "delay", lambda *a, **k: None)
    with context.acting_as(context.Actor(user_id=None, label="test", kind="system")):
        catalog.create_namespace_rule({"pattern": "s3://acme-eu-*", "jurisdiction": Jurisdiction.objects.get(code="EU"),
                                       "processing_jurisdictions": ["EU"], "description": "EU buckets"})
        catalog.create_namespace_rule({"pattern": "postgres://db.fra.internal:5432*", "jurisdiction": Jurisdiction.objects.get(code="DE"),
                                       "priority": 10, "description": "Frankfurt warehouse"})
        catalog.create_purpose({"code": "research.medical.oncology", "name": "Oncology research"})
        compute.create_cluster({"name": "fra-h100", "display_name": "Frankfurt H100", "jurisdiction_id": "DE", "gpu_count": 8})
    make_dataset(storage_jurisdiction_id="DE")
    base = live_server.url

    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("clara")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Reference data").click()
    expect(page.get_by_role("heading", name="Reference data")).to_be_visible()
    page.screenshot(path="/tmp/govhub-reference.png", full_page=True)

    page.get_by_role("link", name="Namespace rules").click()
    expect(page.get_by_role("heading", name="Namespace rules", exact=True)).to_be_visible()
    page.locator("#id_namespace").fill("s3://acme-eu-health")
    page.get_by_label("Name (optional)").fill("patients/2025")
    page.get_by_role("button", name="Test", exact=True).click()
    result = page.locator("#location-result")
    expect(result).to_contain_text("Rule s3://acme-eu-* matches")
    expect(result).to_contain_text("European Union")
    expect(page).to_have_url(f"{base}/reference/namespace-rules/")  # answered in place, no page load
    page.screenshot(path="/tmp/govhub-reference-rules.png", full_page=True)
    page.locator("#id_namespace").fill("gs://somewhere-else")
    page.get_by_role("button", name="Test", exact=True).click()
    expect(result).to_contain_text("unknown — no rule matches")

    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Pattern").fill("s3://acme eu/*")
    page.get_by_label("Storage jurisdiction").select_option("DE")
    page.get_by_label("Processing jurisdictions").fill("DE, XX")
    page.get_by_role("button", name="Create rule").click()
    expect(page.locator("#error-summary")).to_contain_text("A pattern has no spaces.")
    page.screenshot(path="/tmp/govhub-reference-rule-form.png", full_page=True)

    page.goto(f"{base}/reference/jurisdictions/?kind=bloc")
    page.screenshot(path="/tmp/govhub-reference-jurisdictions.png", full_page=True)
    page.goto(f"{base}/reference/jurisdictions/EU/")
    expect(page.get_by_role("heading", name="Member countries")).to_be_visible()
    page.screenshot(path="/tmp/govhub-reference-eu.png", full_page=True)
    page.goto(f"{base}/reference/jurisdictions/DE/")
    expect(page.locator("main")).to_contain_text("Frankfurt H100")
    page.screenshot(path="/tmp/govhub-reference-de.png", full_page=True)
    page.goto(f"{base}/reference/purposes/")
    expect(page.locator("#purpose-research\\.medical\\.oncology")).to_be_visible()
    page.screenshot(path="/tmp/govhub-reference-purposes.png", full_page=True)

    # An administrator sees a Remove button per project member.
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/projects/health/")
    page.screenshot(path="/tmp/govhub-reference-project.png", full_page=True)
    page.get_by_role("link", name="Remove milan").click()
    expect(page.get_by_role("heading", name="Remove milan from Sovereign health?")).to_be_visible()
    page.screenshot(path="/tmp/govhub-reference-remove.png", full_page=True)
