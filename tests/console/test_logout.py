"""The header's "Log out" is a link to a confirmation page, not a form of every page."""
import re

from django.urls import reverse


def test_no_page_carries_a_logout_form_in_its_header(admin_site_client):
    html = admin_site_client.get(reverse("admin:index")).content.decode()
    assert not re.search(r'<form[^>]+action="/admin/logout/"', html)
    assert f'<a href="{reverse("admin:logout_confirm")}" id="logout-link">' in html


def test_the_confirmation_page_signs_out_only_on_its_post(admin_site_client):
    page = admin_site_client.get(reverse("admin:logout_confirm"))
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'<form method="post" action="/admin/logout/" id="logout-form">', html)
    assert admin_site_client.get(reverse("admin:index")).status_code == 200  # still signed in
    assert admin_site_client.post(reverse("admin:logout")).status_code == 200
    assert admin_site_client.get(reverse("admin:index")).status_code == 302  # to the login page


def test_the_confirmation_page_needs_a_signed_in_operator(client, db):
    response = client.get(reverse("admin:logout_confirm"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
