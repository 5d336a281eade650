"""The quota under racing uploads, and the operators' pages."""
import threading

import pytest
from django.db import connection
from django.test import Client

from core.api.exceptions import PayloadTooLarge
from files import access_log, selectors, services
from files.models import FileShare, StorageUsage
from tests.factories import PlanFactory, UserFactory
from tests.files.conftest import concurrent_writers
from tests.files.factories import make_file


@pytest.mark.django_db(transaction=True)
@concurrent_writers
def test_racing_reservations_never_pass_the_cap_together(tenant):
    tenant.plan = PlanFactory(storage_bytes=1000)
    tenant.save()
    barrier = threading.Barrier(6)
    outcomes = []

    def reserve():
        try:
            barrier.wait()
            services.storage_reserve(tenant=tenant, size=300)
            outcomes.append("reserved")
        except PayloadTooLarge:
            outcomes.append("413")
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["413"] * 3 + ["reserved"] * 3
    assert StorageUsage.objects.get(tenant=tenant).bytes_used == 900


@pytest.mark.django_db
def test_recount_repairs_the_counter_from_the_rows(tenant):
    make_file(tenant, b"x" * 10)
    StorageUsage.objects.filter(tenant=tenant).update(bytes_used=999)
    assert services.storage_recount(tenant=tenant) == 10


@pytest.fixture
def console(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_the_admin_pages_render_and_never_show_a_share_digest(console, tenant):
    file = make_file(tenant, b"%PDF-1.7 admin", name="admin.pdf")
    share, token = services.share_create(file=file, max_downloads=2)
    for url in ("/admin/files/file/", f"/admin/files/file/{file.pk}/change/", "/admin/files/fileshare/",
                f"/admin/files/fileshare/{share.pk}/change/", "/admin/files/fileuploadsession/",
                "/admin/files/fileaccesslog/", "/admin/files/storageusage/"):
        response = console.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert share.token_digest not in page and token not in page
    assert "14\xa0bytes" in console.get("/admin/files/file/").content.decode()


@pytest.mark.django_db
def test_the_files_page_counts_served_downloads_only(console, tenant):
    file = make_file(tenant, b"%PDF-1.7 counted")
    for status in (200, 206, 200, 304, 416, 499):
        access_log.record(tenant_id=tenant.pk, file_id=file.pk, via="member", status=status, sent=1, ip=None)
    services.access_log_flush()
    assert selectors.files_with_downloads().get(pk=file.pk).download_count == 3
    assert make_file(tenant, b"never downloaded").pk in {
        f.pk for f in selectors.files_with_downloads().filter(download_count=0)}
    page = console.get("/admin/files/file/?o=5").content.decode()  # ordered by downloads
    assert '<td class="field-downloads">3</td>' in page


@pytest.mark.django_db
def test_the_revoke_action_stops_the_link(console, tenant):
    file = make_file(tenant, b"bytes")
    share, token = services.share_create(file=file)
    response = console.post("/admin/files/fileshare/", {"action": "revoke", "_selected_action": [share.pk]})
    assert response.status_code == 302
    assert FileShare.objects.get(pk=share.pk).revoked_at is not None
    assert Client().get(f"/s/{token}").status_code == 404
