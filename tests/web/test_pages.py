"""Every page renders for a persona allowed to see it; the layout, login and error pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apps.audit.models import AuditEvent
from apps.compute.models import ComputeCluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(owner, member, pipeline, make_dataset, make_consent, make_model, actor_context):
    from apps.compute import services as compute

    consent = make_consent()
    dataset = make_dataset(consent=consent, storage_jurisdiction_id="DE", processing_jurisdictions=["EU"])
    base = make_model()
    fine_tune = make_model(kind="fine_tune", base_model=base, training_datasets=[dataset])
    cluster = compute.create_cluster({"name": "fra-h100", "jurisdiction_id": "DE", "gpu_count": 8})
    return {"consent": consent, "dataset": dataset, "model": base, "fine_tune": fine_tune, "cluster": cluster,
            "account": pipeline[0], "event": AuditEvent.objects.filter(project_id=dataset.project_id).first()}


def _read_pages(w):
    return [
        "/", "/datasets/", "/models/", f"/assets/{w['dataset'].pk}/", f"/assets/{w['model'].pk}/",
        f"/assets/{w['fine_tune'].pk}/", "/consents/", f"/consents/{w['consent'].pk}/", "/clusters/",
        f"/clusters/{w['cluster'].pk}/", "/projects/", "/projects/health/", "/service-accounts/",
        f"/service-accounts/{w['account'].pk}/", "/audit/", f"/audit/{w['event'].pk}/",
    ]


def _write_pages(w):
    return [
        "/datasets/new/", "/models/new/", f"/assets/{w['dataset'].pk}/edit/", f"/assets/{w['fine_tune'].pk}/edit/",
        f"/assets/{w['dataset'].pk}/delete/", "/consents/new/", f"/consents/{w['consent'].pk}/edit/",
        f"/consents/{w['consent'].pk}/withdraw/", "/service-accounts/new/",
    ]


@pytest.mark.parametrize("persona", ["owner", "member", "compliance", "auditor", "admin_user"])
def test_read_pages_render_for_every_persona_that_may_see_them(request, login, world, persona):
    client = login(request.getfixturevalue(persona))
    for url in _read_pages(world):
        r = client.get(url)
        assert r.status_code == 200, (persona, url)
        assert b'<main id="main"' in r.content


def test_write_pages_render_for_the_data_steward(login, owner, world):
    client = login(owner)
    for url in _write_pages(world):
        assert client.get(url).status_code == 200, url


def test_admin_only_pages(login, admin_user, owner, compliance, world):
    admin_pages = ["/clusters/new/", f"/clusters/{world['cluster'].pk}/edit/", "/projects/new/"]
    for url in admin_pages:
        assert login(admin_user).get(url).status_code == 200, url
    for persona in (owner, compliance):
        for url in admin_pages:
            r = login(persona).get(url)
            assert r.status_code == 403, url
            assert b"Forbidden" in r.content  # the error page, not a bare response


def test_read_only_personas_get_403_on_write_pages(login, auditor, world):
    client = login(auditor)
    for url in _write_pages(world):
        assert client.get(url).status_code == 403, url


def test_every_page_requires_login(client, world):
    for url in _read_pages(world) + _write_pages(world):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/?next="), url


def test_layout_nav_user_menu_and_skip_link(login, owner):
    html = login(owner).get("/").content.decode()
    assert 'class="skip-link" href="#main"' in html
    for label, url in [("Dashboard", "/"), ("Datasets", "/datasets/"), ("Models", "/models/"), ("Consents", "/consents/"),
                       ("Clusters", "/clusters/"), ("Projects", "/projects/"), ("Service accounts", "/service-accounts/"),
                       ("Audit log", "/audit/"), ("API docs", "/api/docs/")]:
        assert re.search(rf'<a href="{re.escape(url)}"[^>]*>{label}</a>', html), label
    assert 'href="/" aria-current="page">Dashboard' in html
    assert "Data steward in health" in html
    logout = re.search(r'<form method="post" action="/logout/">(.*?)</form>', html, re.S)
    assert logout and "csrfmiddlewaretoken" in logout.group(1)


def test_login_and_logout_through_the_forms(client, owner):
    r = client.get("/login/")
    assert r.status_code == 200
    html = r.content.decode()
    assert '<label for="id_username">' in html and '<label for="id_password">' in html
    r = client.post("/login/", {"username": "olga", "password": "wrong-password-here"})
    assert r.status_code == 200 and b"Please enter a correct username and password" in r.content
    r = client.post("/login/", {"username": "olga", "password": "correct-horse-battery"})
    assert r.status_code == 302 and r["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405  # logout is POST only
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_error_pages_use_the_error_template(login, owner):
    r = login(owner).get("/assets/999999/")
    assert r.status_code == 404
    assert b"<h1>Not found</h1>" in r.content and b"govhub" in r.content
    r = login(owner).get("/no/such/page/")
    assert r.status_code == 404 and b"<h1>Not found</h1>" in r.content


def test_forms_carry_csrf_tokens(login, owner, world):
    client = login(owner)
    for url in _write_pages(world) + [f"/service-accounts/{world['account'].pk}/"]:
        html = client.get(url).content.decode()
        for form in re.findall(r'<form method="post".*?</form>', html, re.S):
            assert "csrfmiddlewaretoken" in form, url


ROOT = Path(__file__).resolve().parents[2]


def test_no_external_urls_in_templates_or_static():
    """Air-gapped: no CDN, font or analytics URL anywhere the browser would load from."""
    offenders = []
    for path in [*ROOT.joinpath("templates").rglob("*.html"), *ROOT.joinpath("static").rglob("*.css"),
                 *ROOT.joinpath("static/js").rglob("*.js")]:
        text = path.read_text()
        if re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text) or re.search(r"url\(\s*['\"]?(https?:)?//", text) or "@import" in text:
            offenders.append(str(path))
    assert offenders == []
    assert ROOT.joinpath("static/vendor/htmx/htmx.min.js").stat().st_size > 10_000
    assert "BSD" in ROOT.joinpath("static/vendor/htmx/LICENSE").read_text() or "Zero-Clause" in ROOT.joinpath("static/vendor/htmx/LICENSE").read_text()


def test_static_files_are_served(client):
    for url in ("/static/vendor/htmx/htmx.min.js", "/static/css/govhub.css", "/static/js/govhub.js", "/static/favicon.svg"):
        r = client.get(url)
        assert r.status_code == 200, url
        r.close()


def test_cluster_pages_show_reference_data(login, member, world):
    html = login(member).get("/clusters/").content.decode()
    assert "fra-h100" in html and "New cluster" not in html
    assert ComputeCluster.objects.count() == 1
