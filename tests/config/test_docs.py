"""The schema and docs are served from local assets: no external host is referenced."""
import re

import pytest

pytestmark = pytest.mark.django_db
EXTERNAL = re.compile(r"(?:src|href)=[\"']?(?:https?:)?//(?!testserver)", re.I)


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc", "/api/docs/"])
def test_docs_pages_reference_no_external_host(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "/static/drf_spectacular_sidecar/" in html


def test_schema_is_openapi_3(client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_admin_is_branded(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"Groundstation" in response.content
