"""Global reference data in the UI (namespace rules, jurisdictions, purposes) and removing
project members. Everyone signed in reads it; org-wide administrators and compliance officers
write it, through the audited services."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Membership
from apps.audit.models import AuditEvent
from apps.catalog import services as catalog
from apps.catalog.models import Jurisdiction, NamespaceRule, Purpose

from .helpers import audit_writes

pytestmark = pytest.mark.django_db

READ_PAGES = ["/reference/", "/reference/namespace-rules/", "/reference/jurisdictions/", "/reference/jurisdictions/EU/",
              "/reference/jurisdictions/de/", "/reference/purposes/", "/reference/namespace-rules/test/"]


@pytest.fixture
def rule(reference_data, actor_context):
    return catalog.create_namespace_rule({"pattern": "s3://acme-eu-*", "jurisdiction": Jurisdiction.objects.get(code="EU"),
                                          "processing_jurisdictions": ["EU"], "description": "EU buckets"})


def write_pages(rule) -> list[str]:
    return ["/reference/namespace-rules/new/", f"/reference/namespace-rules/{rule.pk}/edit/",
            f"/reference/namespace-rules/{rule.pk}/delete/", "/reference/jurisdictions/new/", "/reference/jurisdictions/EU/edit/",
            "/reference/purposes/new/", "/reference/purposes/new/?parent=research", "/reference/purposes/research/edit/"]


def rule_form(**overrides) -> dict:
    data = {"pattern": "s3://acme-de-*", "jurisdiction": "DE", "processing_jurisdictions": "DE, EU", "priority": "0",
            "description": "German buckets"}
    data.update(overrides)
    return data


# --- reading ------------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", ["member", "outsider", "auditor"])
def test_every_reference_page_renders_read_only(request, login, rule, persona):
    client = login(request.getfixturevalue(persona))
    for url in READ_PAGES:
        r = client.get(url)
        assert r.status_code == 200, (persona, url)
        html = r.content.decode()
        assert '<main id="main"' in html
        assert 'aria-current="page">Reference data</a>' in html, url
        for writer_only in ("New rule", "New bloc", "New country", "Add child", "New top-level purpose", "/edit/", "/delete/"):
            assert writer_only not in html, (persona, url, writer_only)


def test_reference_pages_need_login(client, rule):
    for url in READ_PAGES + write_pages(rule):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/?next="), url


def test_landing_page_links_the_three_with_counts(login, member, rule):
    html = login(member).get("/reference/").content.decode()
    for url in ("/reference/namespace-rules/", "/reference/jurisdictions/", "/reference/purposes/"):
        assert f'href="{url}"' in html
    assert re.search(r'<span class="value">1</span> rule\b', html)
    countries = Jurisdiction.objects.filter(kind="country").count()
    assert f'<span class="value">{countries}</span> countries' in html
    assert '<span class="value">3</span> blocs' in html
    assert f'<span class="value">{Purpose.objects.count()}</span> purposes' in html
    assert "Only organisation administrators and compliance officers change it" in html


def test_nav_has_a_reference_data_entry(login, member):
    html = login(member).get("/").content.decode()
    assert re.search(r'<a href="/reference/"[^>]*>Reference data</a>', html)


def test_namespace_rule_list_shows_rules_in_precedence_order_and_filters(login, compliance, rule, actor_context):
    catalog.create_namespace_rule({"pattern": "s3://acme-eu-health-*", "jurisdiction": Jurisdiction.objects.get(code="DE"),
                                   "priority": 10})
    catalog.create_namespace_rule({"pattern": "gs://*", "jurisdiction": Jurisdiction.objects.get(code="US")})
    client = login(compliance)
    html = client.get("/reference/namespace-rules/").content.decode()
    assert "3 rules" in html
    order = [html.index(p) for p in ("s3://acme-eu-health-*", "s3://acme-eu-*</code>", "gs://*")]
    assert order == sorted(order)  # priority first, then the longer pattern
    assert "EU buckets" in html and "(storage only)" in html
    assert "re-infers, in the background, the residency of assets whose residency is unknown" in html
    assert 'href="/reference/namespace-rules/new/"' in html and f'href="/reference/namespace-rules/{rule.pk}/edit/"' in html
    html = client.get("/reference/namespace-rules/?jurisdiction=de").content.decode()
    assert "1 rule" in html and "s3://acme-eu-health-*" in html and "gs://*" not in html
    part = client.get("/reference/namespace-rules/?jurisdiction=US", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in part and "gs://*" in part


def test_namespace_rule_list_query_count_is_constant(login, member, reference_data, actor_context):
    de = Jurisdiction.objects.get(code="DE")

    def count_queries() -> int:
        client = login(member)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/reference/namespace-rules/").status_code == 200
        return len(ctx.captured_queries)

    for i in range(2):
        catalog.create_namespace_rule({"pattern": f"s3://bucket-{i}-*", "jurisdiction": de, "processing_jurisdictions": ["EU"]})
    small = count_queries()
    for i in range(2, 30):
        catalog.create_namespace_rule({"pattern": f"s3://bucket-{i}-*", "jurisdiction": de, "processing_jurisdictions": ["EU"]})
    assert count_queries() == small, small


def test_jurisdiction_list_query_count_is_constant(login, member, reference_data, actor_context):
    def count_queries(url: str) -> int:
        client = login(member)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    one_bloc = count_queries("/reference/jurisdictions/?kind=bloc&q=GCC")
    assert count_queries("/reference/jurisdictions/?kind=bloc") == one_bloc
    assert count_queries("/reference/jurisdictions/") == one_bloc


def test_jurisdiction_list_search_kind_filter_and_bloc_members(login, member, reference_data):
    client = login(member)
    html = client.get("/reference/jurisdictions/?kind=bloc").content.decode()
    assert "3 jurisdictions" in html
    assert "AE, BH, KW, OM, QA, SA" in html  # GCC members
    html = client.get("/reference/jurisdictions/?q=germ").content.decode()
    assert "1 jurisdiction" in html and 'href="/reference/jurisdictions/DE/"' in html
    assert re.search(r"part of</span> <span class=\"codes\">EEA, EU</span>", html)
    part = client.get("/reference/jurisdictions/?q=de", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in part and "Germany" in part  # a code matches exactly, in any case


def test_jurisdiction_detail_shows_members_blocs_assets_and_clusters(login, member, owner, make_dataset, rule, actor_context):
    from apps.compute import services as compute

    make_dataset(storage_jurisdiction_id="DE")
    make_dataset(storage_jurisdiction_id="DE")
    make_dataset(storage_jurisdiction_id="EU")
    compute.create_cluster({"name": "fra-h100", "display_name": "Frankfurt H100", "jurisdiction_id": "DE", "gpu_count": 8})
    client = login(member)
    html = client.get("/reference/jurisdictions/DE/").content.decode()
    assert "<h1>DE — Germany" in html and "member of EEA and EU" in html
    assert re.search(r'<span class="value">2</span><span class="label">Datasets stored here', html)
    assert 'href="/reference/jurisdictions/EU/"' in html and 'href="/reference/jurisdictions/EEA/"' in html  # part of
    assert "Frankfurt H100" in html or "fra-h100" in html
    html = client.get("/reference/jurisdictions/EU/").content.decode()
    assert "Member countries" in html and 'href="/reference/jurisdictions/FR/"' in html
    assert re.search(r'<span class="value">1</span><span class="label">Datasets stored as EU', html)
    assert re.search(r'<span class="value">2</span><span class="label">Assets in member countries', html)
    assert re.search(r'<span class="value">1</span><span class="label">Compute cluster in the bloc', html)
    assert "s3://acme-eu-*" in html  # the namespace rule storing in the EU
    assert client.get("/reference/jurisdictions/XX/").status_code == 404


def test_jurisdiction_asset_counts_only_include_visible_assets(login, outsider, make_dataset):
    make_dataset(storage_jurisdiction_id="DE")  # in project health; the outsider is in bank only
    html = login(outsider).get("/reference/jurisdictions/DE/").content.decode()
    assert re.search(r'<span class="value">0</span><span class="label">Datasets stored here', html)


def test_purposes_render_as_an_indented_tree(login, member, reference_data, actor_context):
    catalog.create_purpose({"code": "research.medical.oncology", "name": "Oncology research"})
    catalog.create_purpose({"code": "research_ethics", "name": "Research ethics"})
    html = login(member).get("/reference/purposes/").content.decode()
    rows = re.findall(r'<tr id="purpose-([a-z0-9_.]+)" class="level-(\d)">', html)
    codes = [code for code, _ in rows]
    assert codes.index("research") < codes.index("research.medical") < codes.index("research.medical.oncology") \
        < codes.index("research.scientific") < codes.index("research_ethics")
    levels = dict(rows)
    assert (levels["research"], levels["research.medical"], levels["research.medical.oncology"]) == ("0", "1", "2")
    html = login(member).get("/reference/purposes/?under=research.medical").content.decode()
    rows = re.findall(r'<tr id="purpose-([a-z0-9_.]+)" class="level-(\d)">', html)
    assert rows == [("research.medical", "0"), ("research.medical.oncology", "1")]


# --- permissions --------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", ["member", "owner", "auditor"])
def test_write_pages_are_forbidden_without_an_org_wide_writer_role(request, login, rule, persona):
    client = login(request.getfixturevalue(persona))
    for url in write_pages(rule):
        assert client.get(url).status_code == 403, (persona, url)


@pytest.mark.parametrize("persona", ["compliance", "admin_user"])
def test_write_pages_render_for_org_wide_writers(request, login, rule, persona):
    client = login(request.getfixturevalue(persona))
    for url in write_pages(rule):
        r = client.get(url)
        assert r.status_code == 200, (persona, url)
        for form in re.findall(r'<form method="post".*?</form>', r.content.decode(), re.S):
            assert "csrfmiddlewaretoken" in form, url


def test_member_cannot_post_reference_data(login, member, rule):
    client = login(member)
    before = (audit_writes(), NamespaceRule.objects.count(), Jurisdiction.objects.count(), Purpose.objects.count())
    assert client.post("/reference/namespace-rules/new/", rule_form()).status_code == 403
    assert client.post(f"/reference/namespace-rules/{rule.pk}/edit/", rule_form(pattern="s3://x-*")).status_code == 403
    assert client.post(f"/reference/namespace-rules/{rule.pk}/delete/", {}).status_code == 403
    assert client.post("/reference/jurisdictions/new/", {"code": "XY", "name": "X", "kind": "country"}).status_code == 403
    assert client.post("/reference/jurisdictions/EU/edit/", {"name": "Europe", "kind": "bloc", "members": "DE"}).status_code == 403
    assert client.post("/reference/purposes/new/", {"code": "research.x", "name": "X"}).status_code == 403
    assert client.post("/reference/purposes/research/edit/", {"name": "Changed"}).status_code == 403
    after = (audit_writes(), NamespaceRule.objects.count(), Jurisdiction.objects.count(), Purpose.objects.count())
    assert after == before
    rule.refresh_from_db()
    assert rule.pattern == "s3://acme-eu-*"
    assert Jurisdiction.objects.get(code="EU").name == "European Union"


# --- writing namespace rules -----------------------------------------------------------------------

def test_compliance_officer_creates_edits_and_deletes_a_namespace_rule(login, compliance, reference_data):
    client = login(compliance)
    r = client.post("/reference/namespace-rules/new/", rule_form())
    assert r.status_code == 302 and r["Location"] == "/reference/namespace-rules/"
    created = NamespaceRule.objects.get(pattern="s3://acme-de-*")
    assert (created.jurisdiction_id, created.processing_jurisdictions, created.description) == ("DE", ["DE", "EU"], "German buckets")
    assert AuditEvent.objects.filter(action="catalog.namespacerule.create", object_id=str(created.pk)).exists()
    html = client.get("/reference/namespace-rules/").content.decode()
    assert "re-inferred in the background" in html  # the flash message

    edit = client.get(f"/reference/namespace-rules/{created.pk}/edit/").content.decode()
    assert 'value="s3://acme-de-*"' in edit and 'value="DE, EU"' in edit and 'name="etag"' in edit
    assert "re-infers, in the background" in edit
    etag = re.search(r'name="etag" value="([^"]+)"', edit).group(1).replace("&quot;", '"')
    r = client.post(f"/reference/namespace-rules/{created.pk}/edit/", rule_form(priority="5", processing_jurisdictions="", etag=etag))
    assert r.status_code == 302
    created.refresh_from_db()
    assert (created.priority, created.processing_jurisdictions) == (5, [])
    assert AuditEvent.objects.filter(action="catalog.namespacerule.update", object_id=str(created.pk)).exists()

    confirm = client.get(f"/reference/namespace-rules/{created.pk}/delete/").content.decode()
    assert "Delete rule" in confirm and "s3://acme-de-*" in confirm
    r = client.post(f"/reference/namespace-rules/{created.pk}/delete/", {})
    assert r.status_code == 302 and r["Location"] == "/reference/namespace-rules/"
    assert not NamespaceRule.objects.filter(pk=created.pk).exists()
    assert AuditEvent.objects.filter(action="catalog.namespacerule.delete", object_id=str(created.pk)).exists()


def test_stale_edit_is_refused_with_a_message(login, compliance, rule, actor_context):
    client = login(compliance)
    edit = client.get(f"/reference/namespace-rules/{rule.pk}/edit/").content.decode()
    etag = re.search(r'name="etag" value="([^"]+)"', edit).group(1).replace("&quot;", '"')
    catalog.update_namespace_rule(rule, {"priority": 3})  # someone else, meanwhile
    before = audit_writes()
    r = client.post(f"/reference/namespace-rules/{rule.pk}/edit/", rule_form(pattern="s3://acme-eu-*", etag=etag))
    assert r.status_code == 200 and "changed by someone else" in r.content.decode()
    assert audit_writes() == before
    rule.refresh_from_db()
    assert rule.jurisdiction_id == "EU"


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"processing_jurisdictions": "DE, XX"}, "processing_jurisdictions", "Unknown jurisdiction: XX."),
    ({"jurisdiction": "XX"}, "jurisdiction", "Select a valid choice."),
    ({"pattern": "s3://acme de/*"}, "pattern", "A pattern has no spaces."),
    ({"pattern": "s3://acme-eu-*"}, "pattern", "already exists"),
    ({"priority": "high"}, "priority", "Enter a whole number."),
])
def test_invalid_namespace_rule_re_renders_with_messages_and_writes_nothing(login, compliance, rule, overrides, field, message):
    client = login(compliance)
    before = (audit_writes(), NamespaceRule.objects.count())
    r = client.post("/reference/namespace-rules/new/", rule_form(**overrides))
    html = r.content.decode()
    assert r.status_code == 200
    assert f'id="id_{field}_errors"' in html and message in html
    assert "There is a problem" in html
    assert (audit_writes(), NamespaceRule.objects.count()) == before


def test_invalid_edit_writes_nothing(login, compliance, rule):
    before = audit_writes()
    r = login(compliance).post(f"/reference/namespace-rules/{rule.pk}/edit/", rule_form(pattern="has space"))
    assert r.status_code == 200 and "A pattern has no spaces." in r.content.decode()
    assert audit_writes() == before
    rule.refresh_from_db()
    assert rule.pattern == "s3://acme-eu-*"


# --- the location tester --------------------------------------------------------------------------

def test_location_tester_shows_the_matching_rule(login, member, rule, actor_context):
    catalog.create_namespace_rule({"pattern": "s3://acme-eu-health/*", "jurisdiction": Jurisdiction.objects.get(code="DE"),
                                   "priority": 10})
    client = login(member)
    html = client.get("/reference/namespace-rules/test/", {"namespace": "s3://ACME-EU-logs"}).content.decode()
    assert "<html" in html  # without JavaScript: a page of its own
    assert "Rule <code>s3://acme-eu-*</code> matches" in html
    assert 'href="/reference/jurisdictions/EU/"' in html and "European Union" in html
    assert 'value="s3://ACME-EU-logs"' in html  # the form keeps what was typed
    # namespace/name is matched too, and the higher priority wins
    part = client.get("/reference/namespace-rules/test/", {"namespace": "s3://acme-eu-health", "name": "patients"},
                      HTTP_HX_REQUEST="true")
    html = part.content.decode()
    assert part.status_code == 200 and "HX-Request" in part["Vary"]
    assert "<html" not in html and "<form" not in html
    assert "Rule <code>s3://acme-eu-health/*</code> matches" in html and "Germany" in html


def test_location_tester_says_unknown_when_no_rule_matches(login, member, rule):
    client = login(member)
    html = client.get("/reference/namespace-rules/test/", {"namespace": "gs://elsewhere"},
                      HTTP_HX_REQUEST="true").content.decode()
    assert "unknown — no rule matches" in html and "gs://elsewhere" in html
    assert "matches</strong>" not in html.replace("no rule matches</strong>", "")
    html = client.get("/reference/namespace-rules/test/", {"namespace": ""}, HTTP_HX_REQUEST="true").content.decode()
    assert "This field is required." in html


def test_location_tester_form_is_on_the_rules_page(login, member, rule):
    html = login(member).get("/reference/namespace-rules/").content.decode()
    form = re.search(r'<form method="get" action="/reference/namespace-rules/test/"[^>]*>', html).group(0)
    assert 'hx-get="/reference/namespace-rules/test/"' in form and 'hx-target="#location-result"' in form
    assert 'id="location-result" role="status" aria-live="polite"' in html


# --- writing jurisdictions --------------------------------------------------------------------------

def test_compliance_officer_creates_and_edits_a_bloc(login, compliance, reference_data):
    client = login(compliance)
    r = client.post("/reference/jurisdictions/new/", {"code": "dach", "name": "Germany, Austria, Switzerland", "kind": "bloc",
                                                      "members": "de, AT; CH"})
    assert r.status_code == 302 and r["Location"] == "/reference/jurisdictions/DACH/"
    dach = Jurisdiction.objects.get(code="DACH")
    assert sorted(dach.members.values_list("code", flat=True)) == ["AT", "CH", "DE"]
    assert AuditEvent.objects.filter(action="catalog.jurisdiction.create", object_id="DACH").exists()
    html = client.get("/reference/jurisdictions/DACH/").content.decode()
    assert 'href="/reference/jurisdictions/CH/"' in html and 'href="/reference/jurisdictions/DACH/edit/"' in html
    edit = client.get("/reference/jurisdictions/dach/edit/").content.decode()
    assert "AT, CH, DE</textarea>" in edit and 'name="code"' not in edit
    r = client.post("/reference/jurisdictions/DACH/edit/", {"name": "DACH region", "kind": "bloc", "members": "DE, AT, CH, LI"})
    assert r.status_code == 302
    dach.refresh_from_db()
    assert dach.name == "DACH region" and dach.members.count() == 4
    assert AuditEvent.objects.filter(action="catalog.jurisdiction.update", object_id="DACH").exists()


def test_compliance_officer_creates_a_country(login, compliance, reference_data):
    code = next(c for c in ("XK", "QZ", "XZ") if not Jurisdiction.objects.filter(code=c).exists())
    r = login(compliance).post("/reference/jurisdictions/new/", {"code": code, "name": "Test country", "kind": "country"})
    assert r.status_code == 302
    assert Jurisdiction.objects.get(code=code).kind == "country"


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"code": "DACH", "name": "D", "kind": "bloc", "members": "DE, QQ"}, "members", "Unknown jurisdiction: QQ."),
    ({"code": "DEU", "name": "Germany", "kind": "country"}, "code", "A country code has two letters"),
    ({"code": "D-1", "name": "X", "kind": "bloc"}, "code", "Use an ISO 3166-1 alpha-2 code"),
    ({"code": "DE", "name": "Germany again", "kind": "country"}, "code", "already exists"),
    ({"code": "QY", "name": "X", "kind": "country", "members": "DE"}, "members", "Only a bloc has member countries"),
])
def test_invalid_jurisdiction_re_renders_with_messages_and_writes_nothing(login, compliance, reference_data, data, field, message):
    before = (audit_writes(), Jurisdiction.objects.count())
    r = login(compliance).post("/reference/jurisdictions/new/", data)
    html = r.content.decode()
    assert r.status_code == 200 and f'id="id_{field}_errors"' in html and message in html
    assert (audit_writes(), Jurisdiction.objects.count()) == before


def test_invalid_jurisdiction_edit_keeps_the_members(login, compliance, reference_data):
    before = audit_writes()
    r = login(compliance).post("/reference/jurisdictions/EU/edit/", {"name": "European Union", "kind": "bloc", "members": "DE, ZZZ"})
    assert r.status_code == 200 and "Unknown jurisdiction: ZZZ." in r.content.decode()
    assert audit_writes() == before and Jurisdiction.objects.get(code="EU").members.count() == 27


# --- writing purposes ----------------------------------------------------------------------------

def test_compliance_officer_adds_a_child_purpose_and_edits_it(login, compliance, reference_data):
    client = login(compliance)
    html = client.get("/reference/purposes/").content.decode()
    assert 'href="/reference/purposes/new/?parent=research.medical"' in html
    form = client.get("/reference/purposes/new/?parent=research.medical").content.decode()
    assert "New purpose under research.medical" in form and 'value="research.medical."' in form
    r = client.post("/reference/purposes/new/", {"code": "research.medical.oncology", "name": "Oncology research"})
    assert r.status_code == 302 and r["Location"] == "/reference/purposes/#purpose-research.medical.oncology"
    assert AuditEvent.objects.filter(action="catalog.purpose.create", object_id="research.medical.oncology").exists()
    r = client.post("/reference/purposes/research.medical.oncology/edit/",
                    {"name": "Cancer research", "description": "Oncology studies under Art. 89."})
    assert r.status_code == 302
    purpose = Purpose.objects.get(code="research.medical.oncology")
    assert (purpose.name, purpose.description) == ("Cancer research", "Oncology studies under Art. 89.")
    assert AuditEvent.objects.filter(action="catalog.purpose.update", object_id="research.medical.oncology").exists()


@pytest.mark.parametrize(("code", "message"), [
    ("research.nonexistent.child", "Create the parent purpose &#x27;research.nonexistent&#x27; first."),
    ("Research Medical", "Use dotted lowercase codes"),
    ("research", "already exists"),
])
def test_invalid_purpose_re_renders_with_messages_and_writes_nothing(login, compliance, reference_data, code, message):
    before = (audit_writes(), Purpose.objects.count())
    r = login(compliance).post("/reference/purposes/new/", {"code": code, "name": "Child"})
    html = r.content.decode()
    assert r.status_code == 200 and 'id="id_code_errors"' in html and message in html
    assert (audit_writes(), Purpose.objects.count()) == before


# --- removing project members --------------------------------------------------------------------

def test_admin_removes_a_member_after_confirming(login, admin_user, owner, member, project):
    client = login(admin_user)
    html = client.get("/projects/health/").content.decode()
    m = Membership.objects.get(user=member, project=project)
    assert f'href="/projects/health/members/{m.pk}/remove/"' in html
    confirm = client.get(f"/projects/health/members/{m.pk}/remove/").content.decode()
    assert "Remove milan from Sovereign health?" in confirm and "Remove from project" in confirm
    r = client.post(f"/projects/health/members/{m.pk}/remove/")
    assert r.status_code == 302 and r["Location"] == "/projects/health/"
    assert not Membership.objects.filter(pk=m.pk).exists()
    assert AuditEvent.objects.filter(action="accounts.membership.delete", object_id=str(m.pk)).exists()
    assert "milan is no longer a member" in client.get("/projects/health/").content.decode()


def test_only_administrators_remove_members(login, owner, member, outsider, project):
    m = Membership.objects.get(user=member, project=project)
    html = login(owner).get("/projects/health/").content.decode()
    assert "/remove/" not in html
    before = audit_writes()
    assert login(owner).get(f"/projects/health/members/{m.pk}/remove/").status_code == 403
    assert login(owner).post(f"/projects/health/members/{m.pk}/remove/").status_code == 403
    assert login(outsider).post(f"/projects/health/members/{m.pk}/remove/").status_code == 404
    assert login(owner).post(f"/projects/bank/members/{m.pk}/remove/").status_code == 404  # wrong project in the URL
    assert Membership.objects.filter(pk=m.pk).exists() and audit_writes() == before


def test_last_project_administrator_cannot_remove_themselves(login, project, member, actor_context):
    from apps.accounts import services

    pat = services.create_person("pat")
    mine = services.set_membership(pat, project, "administrator")
    client = login(pat)
    m = Membership.objects.get(user=member, project=project)
    assert f'href="/projects/health/members/{m.pk}/remove/"' in client.get("/projects/health/").content.decode()
    html = client.get(f"/projects/health/members/{mine.pk}/remove/").content.decode()
    assert "You are the last administrator of this project" in html and "Remove from project" not in html
    before = audit_writes()
    r = client.post(f"/projects/health/members/{mine.pk}/remove/")
    assert r.status_code == 200 and "You are the last administrator" in r.content.decode()
    assert Membership.objects.filter(pk=mine.pk).exists() and audit_writes() == before
    # With a second administrator it is allowed, and the page they can no longer see is not shown.
    services.set_membership(member, project, "administrator")
    r = client.post(f"/projects/health/members/{mine.pk}/remove/")
    assert r.status_code == 302 and r["Location"] == "/projects/"
    assert not Membership.objects.filter(pk=mine.pk).exists()
