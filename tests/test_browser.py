"""Swagger UI and ReDoc in real headless Chromium, against a live server.

Needs Debian's chromium and chromium-driver (``.ci/run`` installs them). The
test is skipped when they are missing, except under CI, where that fails.
"""

from urllib.parse import urlsplit

import pytest

from tests.browser import chromium, hosts_requested, performance_messages
from tests.browser import wait as _wait
from tests.factories import fund


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


def _hosts_requested(driver) -> set[str]:
    return hosts_requested(performance_messages(driver))


def test_swagger_ui_authorizes_and_executes_get_balance(
    app, client, customer, server, browser
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    fund(app, customer["account"]["account_number"], 12_345)
    token = customer["headers"]["Authorization"].removeprefix("Bearer ")
    wait = _wait(browser)
    browser.get(f"{server}/docs")
    op = ".opblock.opblock-get:has(.opblock-summary-path[data-path='/balance'])"
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, op)))

    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .btn.authorize").click()
    field = wait.until(
        ec.visibility_of_element_located(
            (By.CSS_SELECTOR, ".dialog-ux input#auth-bearer-value")
        )
    )
    field.send_keys(token)  # Swagger UI adds "Bearer " itself
    browser.find_element(
        By.CSS_SELECTOR, ".dialog-ux .auth-btn-wrapper .btn.modal-btn.auth.authorize"
    ).click()
    wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, ".dialog-ux button[aria-label='Remove authorization']")
        )
    )
    browser.find_element(By.CSS_SELECTOR, ".dialog-ux .btn-done").click()
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".dialog-ux")))

    browser.find_element(By.CSS_SELECTOR, f"{op} .opblock-summary-control").click()
    wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f"{op} .try-out__btn"))
    ).click()
    wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f"{op} .btn.execute"))
    ).click()
    status = f"{op} .live-responses-table .response .response-col_status"
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, status), "200"))
    body = browser.find_element(
        By.CSS_SELECTOR, f"{op} .live-responses-table .response-col_description pre"
    ).text
    assert '"balance": "123.45"' in body
    assert customer["account"]["account_number"] in body
    assert _hosts_requested(browser) == {urlsplit(server).netloc}


def test_redoc_lists_the_operations(client, server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    spec = client.get("/openapi.json").get_json()
    expected = {
        # ReDoc's menu id for an operation without an operationId, and its
        # label: the method (DELETE shortened to "del") and the summary.
        f"tag/{operation['tags'][0]}/paths/{path.replace('/', '~1')}/{method}": (
            ("del" if method == "delete" else method) + operation["summary"]
        )
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    browser.get(f"{server}/redoc")
    items = "li[data-item-id*='/paths/']"
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, items)))
    listed = {
        element.get_attribute("data-item-id"): element.get_attribute("textContent")
        for element in browser.find_elements(By.CSS_SELECTOR, items)
    }
    assert listed == expected
    first = browser.find_element(
        By.CSS_SELECTOR, "[id='tag/auth/paths/~1auth~1register/post'] h2"
    )
    assert first.text == "Register a customer with a new primary account."
    assert _hosts_requested(browser) == {urlsplit(server).netloc}
