"""The recommendations admin's preview in a real browser: from the models list, an operator
picks a tenant and a user and reads the history beside the answer, side by side at 1400 px."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.factories import TenantFactory
from tests.recommendations.helpers import train_here, two_taste_groups

pytestmark = pytest.mark.browser


def item_ids(box):
    return [row.find_elements(By.TAG_NAME, "td")[1].text for row in box.find_elements(By.CSS_SELECTOR, "tbody tr")]


def test_an_operator_previews_a_users_history_beside_their_recommendations(signed_in, live_server, screenshot):
    tenant = TenantFactory(slug="shop")
    two_taste_groups(tenant)
    model = train_here(tenant)
    signed_in.get(f"{live_server.url}/admin/recommendations/recommendationmodel/")
    signed_in.find_element(By.CSS_SELECTOR, ".object-tools a[href$=\"/recommendationmodel/preview/\"]").click()
    Select(signed_in.find_element(By.NAME, "tenant")).select_by_visible_text(str(tenant))
    signed_in.find_element(By.NAME, "user_id").send_keys("b-user2")
    count = signed_in.find_element(By.NAME, "count")
    count.clear()
    count.send_keys("4")  # the four "b" items this user has not seen
    signed_in.find_element(By.CSS_SELECTOR, "#preview-form input[type=submit]").click()

    history = signed_in.find_element(By.ID, "preview-history")
    answer = signed_in.find_element(By.ID, "preview-answer")
    assert f"personalized, model v{model.version}" in answer.find_element(By.TAG_NAME, "h2").text
    recommended, seen = item_ids(answer), item_ids(history)
    assert len(recommended) == 4 and all(item.startswith("b") for item in recommended + seen)
    assert len(seen) == 6 and not set(seen) & set(recommended)
    # Side by side, and the page does not scroll sideways.
    assert answer.location["x"] >= history.location["x"] + history.size["width"]
    assert signed_in.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    screenshot()
