"""Dashboard figures: exact numbers for a known catalog, per persona, and the page's links."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.web.dashboard import dashboard_figures

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(project, other_project, make_dataset, make_model, make_consent, actor_context):
    from apps.catalog import services

    now = timezone.now()
    active = make_consent(reference="ACTIVE")
    expiring = make_consent(reference="EXPIRING", valid_until=now + dt.timedelta(days=10))
    make_consent(reference="LATER", valid_until=now + dt.timedelta(days=45))
    withdrawn = make_consent(reference="WITHDRAWN")
    make_dataset(name="d1", storage_jurisdiction_id="DE", classification="restricted", consent=active)
    make_dataset(name="d2", storage_jurisdiction_id="DE", processing_jurisdictions=["DE", "EU"], classification="confidential",
                 consent=expiring)
    make_dataset(name="d3", storage_jurisdiction_id="EU", classification="internal", consent=withdrawn)
    make_dataset(name="d4", classification="public")  # no rule matches s3://test-bucket: unknown
    d5 = make_dataset(name="d5", storage_jurisdiction_id="DE", classification="restricted")
    services.update_asset(d5, {"processing_jurisdictions": []})  # stored in DE, processing unknown
    base = make_model(name="m1", storage_jurisdiction_id="DE", classification="internal")
    make_model(kind="fine_tune", name="ft1", base_model=base, storage_jurisdiction_id="EU", classification="confidential",
               consent=withdrawn)
    services.withdraw_consent(withdrawn, reason="Data subject request")
    # Another project: invisible to its non-members.
    make_dataset(project=other_project, name="o1", storage_jurisdiction_id="DE", classification="restricted")
    make_consent(project=other_project, reference="OTHER-EXPIRING", valid_until=now + dt.timedelta(days=5))


def test_figures_for_a_project_member(owner, catalog):
    fig = dashboard_figures(owner)
    assert fig["counts"] == {"datasets": 5, "models": 1, "fine_tunes": 1, "total": 7}
    assert [(r["code"], r["datasets"], r["models"], r["total"], r["pct"]) for r in fig["by_jurisdiction"]] == [
        ("DE", 3, 1, 4, 100), ("EU", 1, 1, 2, 50), (None, 1, 0, 1, 25),
    ]
    assert [(r["value"], r["datasets"], r["models"], r["total"], r["pct"]) for r in fig["by_classification"]] == [
        ("public", 1, 0, 1, 50), ("internal", 1, 1, 2, 100), ("confidential", 1, 1, 2, 100), ("restricted", 2, 0, 2, 100),
    ]
    unknown = fig["unknown_residency"]
    assert (unknown["count"], unknown["datasets"], unknown["models"]) == (2, 2, 0)
    assert sorted(a.name for a in unknown["items"]) == ["d4", "d5"]
    expiring = fig["expiring_consents"]
    assert (expiring["days"], expiring["count"]) == (30, 1)
    assert [(c.reference, c.asset_count) for c in expiring["items"]] == [("EXPIRING", 1)]
    withdrawn = fig["withdrawn_attached"]
    assert (withdrawn["consents"], withdrawn["datasets"], withdrawn["models"], withdrawn["assets"]) == (1, 1, 1, 2)
    assert [(c.reference, c.asset_count) for c in withdrawn["items"]] == [("WITHDRAWN", 2)]


def test_figures_for_org_wide_and_outside_personas(compliance, outsider, catalog):
    fig = dashboard_figures(compliance)
    assert fig["counts"]["datasets"] == 6
    assert fig["by_jurisdiction"][0] == {"code": "DE", "name": "Germany", "datasets": 4, "models": 1, "total": 5, "pct": 100}
    assert fig["expiring_consents"]["count"] == 2
    fig = dashboard_figures(outsider)
    assert fig["counts"] == {"datasets": 1, "models": 0, "fine_tunes": 0, "total": 1}
    assert [(r["code"], r["total"]) for r in fig["by_jurisdiction"]] == [("DE", 1)]
    assert fig["unknown_residency"]["count"] == 0 and fig["withdrawn_attached"]["consents"] == 0
    assert [c.reference for c in fig["expiring_consents"]["items"]] == ["OTHER-EXPIRING"]


def test_empty_catalog_gives_zeros(owner):
    fig = dashboard_figures(owner)
    assert fig["counts"]["total"] == 0 and fig["by_jurisdiction"] == []
    assert all(r["total"] == 0 and r["pct"] == 0 for r in fig["by_classification"])


def test_figures_use_a_fixed_number_of_queries(owner, catalog, make_dataset):
    from apps.accounts.models import User

    def queries() -> int:
        user = User.objects.get(pk=owner.pk)
        with CaptureQueriesContext(connection) as ctx:
            dashboard_figures(user)
        return len(ctx.captured_queries)

    first = queries()
    for i in range(10):
        make_dataset(name=f"more-{i}", storage_jurisdiction_id="FR")
    assert queries() == first <= 9


def test_dashboard_page_shows_the_figures_with_links_to_filtered_lists(login, owner, catalog):
    html = login(owner).get("/").content.decode()
    assert '<tr data-jurisdiction="DE">' in html
    de_row = html.split('<tr data-jurisdiction="DE">')[1].split("</tr>")[0]
    assert '<a href="/datasets/?storage_jurisdiction=DE">3</a>' in de_row
    assert '<a href="/models/?storage_jurisdiction=DE">1</a>' in de_row
    assert '<td class="num total">4</td>' in de_row
    assert 'href="/datasets/?residency=unknown"' in html
    assert 'href="/consents/?expiring_within_days=30"' in html
    assert 'href="/datasets/?consent_status=withdrawn"' in html
    assert 'href="/datasets/?classification=restricted">2</a>' in html
    # The links lead to lists that agree with the figures.
    unknown = login(owner).get("/datasets/?residency=unknown").content.decode()
    assert "2 datasets match the filters" in unknown
    de = login(owner).get("/datasets/?storage_jurisdiction=DE").content.decode()
    assert "3 datasets match the filters" in de
