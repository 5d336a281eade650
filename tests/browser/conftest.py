"""A real headless Chromium (Debian's chromium + chromedriver) driven by Selenium."""
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.factories import DEFAULT_PASSWORD, UserFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def screenshot(browser, request):
    """Call `screenshot()` to save the current page under artifacts/screenshots/<test>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(suffix: str = "") -> Path:
        path = ARTIFACTS / f"{request.node.name}{suffix}.png"
        browser.save_screenshot(str(path))
        return path

    return take


@pytest.fixture
def operator(transactional_db):
    return UserFactory(is_staff=True, is_superuser=True, email="operator@example.com")


@pytest.fixture
def signed_in(browser, live_server, operator):
    """The browser, signed in to the admin as a superuser operator."""
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(operator.email)
    browser.find_element(By.NAME, "password").send_keys(DEFAULT_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # Wait for the signed-in page: a test's next get() would otherwise abort the login POST
    # before its session cookie is set and land on the login form instead.
    WebDriverWait(browser, 15).until(expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    return browser
