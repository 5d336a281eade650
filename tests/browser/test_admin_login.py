"""Operators sign in to the console in a real browser."""
import pytest
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.browser


def test_operator_signs_in_and_sees_the_console(signed_in, live_server, screenshot):
    assert "Groundstation" in signed_in.title
    header = signed_in.find_element(By.ID, "site-name").text
    assert header == "Groundstation"
    screenshot()


def test_wrong_password_is_refused(browser, live_server, operator, screenshot):
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(operator.email)
    browser.find_element(By.NAME, "password").send_keys("not-the-password")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "/admin/login/" in browser.current_url
    assert browser.find_elements(By.CSS_SELECTOR, ".errornote")
    screenshot()
