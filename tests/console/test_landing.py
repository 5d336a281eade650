"""`GET /` is a small page in the admin's look that links the admin, the API docs and health."""
import pytest

pytestmark = pytest.mark.django_db


def test_the_root_address_shows_a_landing_page_with_the_platforms_links(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "<title>Groundstation</title>" in page
    for href in ('href="/admin/"', 'href="/api/docs"', 'href="/health"', 'href="/health/ready"'):
        assert href in page
    assert "console/console.css" in page  # the admin's (console) look
    for link in ("/admin/", "/api/docs", "/health"):
        assert client.get(link, follow=True).status_code == 200, link
