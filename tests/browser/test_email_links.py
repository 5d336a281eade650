"""A new user in a real browser: register, open the mailed verification link, confirm, sign in."""
import re

import httpx
import pytest
from selenium.webdriver.common.by import By

from accounts.models import User
from tests.accounts.conftest import outbox  # noqa: F401  (fixture: tasks eager, mail in the outbox)

pytestmark = pytest.mark.browser
PASSWORD = "a-long-and-unusual-passphrase-17"


def test_the_mailed_verification_link_verifies_in_a_browser(browser, live_server, outbox, settings,  # noqa: F811
                                                            screenshot):
    settings.PUBLIC_BASE_URL = live_server.url  # the address this run serves, port included
    registered = httpx.post(f"{live_server.url}/api/v1/auth/register",
                            json={"email": "first@example.com", "password": PASSWORD, "name": "First"}, timeout=60)
    assert registered.status_code == 201, registered.text
    link = re.search(r"(http://\S+/auth/verify-email\?token=\S+)", outbox[-1].body).group(1)
    assert link.startswith(live_server.url + "/")

    browser.delete_all_cookies()
    browser.get(link)
    assert "Confirm that first@example.com is your e-mail address." in browser.find_element(By.ID, "content").text
    assert browser.find_element(By.ID, "site-name").text == "Groundstation"  # the admin's look
    assert User.objects.get(email="first@example.com").verification_status == "not_verified"  # GET: nothing
    screenshot("-confirm")
    browser.find_element(By.NAME, "confirm").click()

    assert "is verified" in browser.find_element(By.ID, "verified").text
    screenshot("-verified")
    assert User.objects.get(email="first@example.com").verification_status == "verified"
    login = httpx.post(f"{live_server.url}/api/v1/auth/login",
                       json={"email": "first@example.com", "password": PASSWORD}, timeout=60)
    assert login.status_code == 200, login.text
