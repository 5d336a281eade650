"""Waits for a page the browser is leaving."""
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException


def left_page(element):
    """Like Selenium's `staleness_of`: true once `element`'s page has been replaced.

    Asked in the middle of a navigation, chromedriver sometimes answers with an "unknown error"
    that the node "does not belong to the document" instead of a stale reference (a CI failure
    in a serial run); the old page is gone either way.
    """

    def gone(driver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in (error.msg or ""):
                return True
            raise
        return False

    return gone
