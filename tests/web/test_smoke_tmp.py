import pytest
pytestmark = pytest.mark.django_db

def test_smoke(login, owner, admin_user, make_dataset, make_consent, make_model, pipeline):
    c = make_consent()
    d = make_dataset(consent=c, storage_jurisdiction_id="DE")
    m = make_model()
    ft = make_model(kind="fine_tune", base_model=m, training_datasets=[d])
    from apps.compute.models import ComputeCluster
    cl = ComputeCluster.objects.create(name="fra-1", jurisdiction_id="DE")
    from apps.audit.models import AuditEvent
    ev = AuditEvent.objects.first()
    acct, raw = pipeline
    for user in (owner, admin_user):
        client = login(user)
        for url in ["/", "/datasets/", "/datasets/new/", "/models/", "/models/new/", f"/assets/{d.pk}/", f"/assets/{ft.pk}/", f"/assets/{m.pk}/",
                    f"/assets/{d.pk}/edit/", f"/assets/{ft.pk}/edit/", f"/assets/{d.pk}/delete/",
                    "/consents/", "/consents/new/", f"/consents/{c.pk}/", f"/consents/{c.pk}/edit/", f"/consents/{c.pk}/withdraw/",
                    "/clusters/", f"/clusters/{cl.pk}/", "/projects/", "/projects/health/", "/service-accounts/", "/service-accounts/new/",
                    f"/service-accounts/{acct.pk}/", "/audit/", f"/audit/{ev.pk}/"]:
            r = client.get(url)
            print(user, url, r.status_code)
            assert r.status_code == 200, (url, r.content[:3000])
    client = login(admin_user)
    for url in ["/clusters/new/", f"/clusters/{cl.pk}/edit/", "/projects/new/"]:
        r = client.get(url)
        assert r.status_code == 200, (url, r.content[:3000])
