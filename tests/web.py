"""Driving the web front end (/app/) in Chromium the way a person uses it.

Fields are found by their visible label, buttons by their text; what a test
asserts is the text on the screen. One browser and one live server serve a
whole test module (``web_session``); each test starts from a fresh page load,
which signs the previous user out (the session lives in the page's memory).
"""

import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.browser import chromium, live_server, performance_messages, wait
from tests.conftest import PASSWORD, register
from tests.factories import auth_headers, fund, make_user
from tests.helpers import make_app

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
# Screenshots of every main screen at both widths (git-ignored).
SHOTS = ROOT / "screenshots"
WIDTHS = (375, 1280)
_names = itertools.count(1)

# The text of the label's own words (not its "(required)" marker), matched
# exactly; returns the labelled control.
_FIELD_BY_LABEL = """
const [text, scope] = arguments;
const root = scope || document.querySelector('main');
for (const label of root.querySelectorAll('label')) {
  const own = (label.childNodes[0] && label.childNodes[0].textContent || '').trim();
  if (own === text && label.htmlFor) {
    const field = document.getElementById(label.htmlFor);
    if (field && field.offsetParent !== null) return field;
  }
}
return null;
"""
# A button (or link) whose text or accessible name is exactly the given one.
_BUTTON = """
const [text, scope] = arguments;
const root = scope || document;
for (const el of root.querySelectorAll('button, a')) {
  const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
  if ((el.textContent.trim() === text || name === text) && el.offsetParent !== null) {
    return el;
  }
}
return null;
"""
_SETTLED = """
const main = document.querySelector('main');
return !!main && !main.querySelector('[aria-busy="true"], .loading, .working');
"""


def unique(prefix: str) -> str:
    """A username nobody in this module's app has taken."""
    return f"{prefix}{next(_names)}"


class Web:
    """One browser on one live server of one app."""

    def __init__(self, app, server: str, driver, downloads: str) -> None:
        self.app = app
        self.server = server
        self.driver = driver
        self.downloads = downloads

    # Data, made the quick way (through the API or the models, not the page).
    def customer(self, prefix: str = "cust", cents: int = 0, **profile) -> dict:
        client = self.app.test_client()
        person = register(client, unique(prefix))
        if profile:
            client.patch("/auth/me", json=profile, headers=person["headers"])
        if cents:
            fund(self.app, person["account"]["account_number"], cents)
        person["username"] = person["user"]["username"]
        person["number"] = person["account"]["account_number"]
        return person

    def staff(self, role: str = "banker") -> dict:
        username = unique(role)
        user = make_user(self.app, username, PASSWORD, role=role)
        return {
            "user": user,
            "username": username,
            "headers": auth_headers(self.app, user),
        }

    def call(self, method: str, path: str, headers: dict, body=None, **kwargs):
        response = self.app.test_client().open(
            path, method=method, headers=headers, json=body, **kwargs
        )
        assert response.status_code < 400, (path, response.get_json())
        return response.get_json()

    def db(self):
        from app.db import get_db

        with self.app.app_context():
            return get_db()

    # The browser.
    def open(self, path: str = "/app/") -> None:
        """Load a page afresh (which signs out whoever was signed in)."""
        self.driver.get(self.server + path)
        self.settle()

    def sign_in(self, username: str, password: str = PASSWORD, then: str = "") -> None:
        self.open(then or "/app/login")
        self.fill("Username", username)
        self.fill("Password", password)
        self.press("Sign in")
        wait(self.driver).until(lambda d: "/app/login" not in d.current_url)
        self.settle()

    def go(self, label: str) -> None:
        """Follow a link of the main navigation, as a person would."""
        self.driver.execute_script(
            "document.body.classList.add('menu-open');"
            "document.querySelector('.menu-button').setAttribute('aria-expanded','true')"
        )
        link = self.find_button(label, scope=self.driver.find_element("id", "nav"))
        link.click()
        self.settle()

    def visit(self, path: str) -> None:
        """Move to an /app/ path inside the page (no reload: still signed in)."""
        self.driver.execute_script(
            "history.pushState(null, '', arguments[0]);"
            "window.dispatchEvent(new PopStateEvent('popstate'));",
            path,
        )
        self.settle()

    def settle(self) -> None:
        wait(self.driver).until(lambda d: d.execute_script(_SETTLED))

    def field(self, label: str, scope=None):
        found = wait(self.driver, 10).until(
            lambda d: d.execute_script(_FIELD_BY_LABEL, label, scope)
        )
        return found

    def fill(self, label: str, value: str, scope=None) -> None:
        element = self.field(label, scope)
        element.clear()
        element.send_keys(value)

    def choose(self, label: str, text: str, scope=None) -> None:
        """Pick the option of a select whose text starts with ``text``."""
        from selenium.webdriver.support.ui import Select

        select = Select(self.field(label, scope))
        for option in select.options:
            if option.text.startswith(text):
                select.select_by_visible_text(option.text)
                return
        raise AssertionError(
            f"no option {text!r} in {[o.text for o in select.options]}"
        )

    def check(self, label: str, scope=None) -> None:
        box = self.field(label, scope)
        if not box.is_selected():
            box.click()

    def find_button(self, text: str, scope=None):
        return wait(self.driver, 10).until(
            lambda d: d.execute_script(_BUTTON, text, scope)
        )

    def press(self, text: str, scope=None) -> None:
        self.find_button(text, scope).click()
        self.settle()

    def double_press(self, text: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).double_click(self.find_button(text)).perform()
        self.settle()

    def main_text(self) -> str:
        return self.driver.find_element("tag name", "main").text

    def heading(self) -> str:
        return self.driver.find_element("css selector", "main h1").text

    def wait_text(self, text: str, seconds: float = 10) -> str:
        from selenium.common.exceptions import TimeoutException

        try:
            wait(self.driver, seconds).until(lambda d: text in self.main_text())
        except TimeoutException:
            raise AssertionError(
                f"{text!r} not on the screen:\n{self.main_text()}"
            ) from None
        return self.main_text()

    def problems(self) -> list[str]:
        return [
            element.text
            for element in self.driver.find_elements("css selector", "main .problem")
            if element.is_displayed()
        ]

    def wait_problem(self, text: str, seconds: float = 10) -> str:
        from selenium.common.exceptions import TimeoutException

        try:
            wait(self.driver, seconds).until(
                lambda d: any(text in p for p in self.problems())
            )
        except TimeoutException:
            raise AssertionError(
                f"no problem saying {text!r}: {self.problems()}"
            ) from None
        return next(p for p in self.problems() if text in p)

    def storage(self) -> dict:
        """What the page keeps where a token must never be."""
        return self.driver.execute_script(
            "return {local: Object.assign({}, localStorage),"
            " session: Object.assign({}, sessionStorage),"
            " cookie: document.cookie, url: location.href};"
        )

    # What the browser logged.
    def console(self) -> list[dict]:
        return self.driver.get_log("browser")

    def network(self) -> list[dict]:
        """The network events since the last look."""
        return performance_messages(self.driver)


class LoseAnswers:
    """WSGI middleware standing between the browser and the app, for two faults.

    ``paths``: the next POST to such a path runs to the end (money moves), then
    the browser gets a 502, as from a proxy whose connection to the app broke:
    the person cannot know whether it worked, and resubmits.
    ``expired``: the next authenticated request to such a path is answered
    401 ``token_expired``, as when the access token has just run out.
    """

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.paths: list[str] = []
        self.expired: list[str] = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path in self.expired and "HTTP_AUTHORIZATION" in environ:
            self.expired.remove(path)
            return self._answer(start_response, 401, "token_expired",
                                "The token has expired.")  # fmt: skip
        if path in self.paths and environ["REQUEST_METHOD"] == "POST":
            self.paths.remove(path)
            answer = self.wsgi_app(environ, lambda *args, **kwargs: None)
            for _chunk in answer:
                pass
            getattr(answer, "close", lambda: None)()
            return self._answer(start_response, 502, "bad_gateway",
                                "The answer was lost on its way back.")  # fmt: skip
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _answer(start_response, status: int, code: str, detail: str) -> list[bytes]:
        title = {401: "Unauthorized", 502: "Bad Gateway"}[status]
        body = json.dumps(
            {"type": "about:blank", "title": title, "status": status,
             "code": code, "detail": detail}
        ).encode()  # fmt: skip
        start_response(
            f"{status} {title}",
            [("Content-Type", "application/problem+json"),
             ("Content-Length", str(len(body)))],
        )  # fmt: skip
        return [body]


def policy_violations(entries: list[dict]) -> list[str]:
    """Console lines of a Content-Security-Policy refusal or an uncaught error."""
    return [
        entry["message"]
        for entry in entries
        if "Content Security Policy" in entry["message"]
        or "Content-Security-Policy" in entry["message"]
        or "Uncaught" in entry["message"]
    ]


@contextmanager
def web_session() -> Iterator[Web]:
    """A fresh app with a loan product, its live server and a browser."""
    app = make_app()
    banker = make_user(app, unique("lender"), PASSWORD, role="banker")
    app.test_client().post(
        "/banker/loan-products",
        headers=auth_headers(app, banker),
        json={
            "name": "Personal loan",
            "annual_rate": "12.00",
            "min_amount": "500.00",
            "max_amount": "20000.00",
            "min_term_months": 6,
            "max_term_months": 60,
        },
    )
    downloads = tempfile.mkdtemp(prefix="web-downloads-")
    losing = LoseAnswers(app.wsgi_app)
    app.wsgi_app = losing
    with live_server(app) as server, chromium(downloads=downloads) as driver:
        web = Web(app, server, driver, downloads)
        web.lose_answers = losing
        yield web


def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_digest() -> str:
    return hashlib.sha256(AXE.read_bytes()).hexdigest()


def run_axe(driver) -> list[dict]:
    """Run axe-core (vendored) on the page: its violations, WCAG 2.1 A and AA."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_source())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values:"
        " ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        ".then(r => done(JSON.stringify(r.violations.map(v => ({id: v.id,"
        " impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)})))))"
        ".catch(e => done(JSON.stringify({error: String(e)})));"
    )
    violations = json.loads(result)
    assert not isinstance(violations, dict), violations
    return violations


def set_width(driver, width: int, height: int = 900) -> None:
    """Make the page's viewport exactly ``width`` CSS pixels wide."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": width < 600,
        },
    )


def screenshot(driver, name: str, width: int) -> Path:
    """Save the whole page (not only the viewport) as screenshots/NAME-WIDTH.png."""
    import base64

    SHOTS.mkdir(exist_ok=True)
    # The pointer off the page: no hover styles in the picture.
    driver.execute_cdp_cmd(
        "Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 0, "y": 0}
    )
    height = driver.execute_script(
        "return Math.max(document.documentElement.scrollHeight, 600)"
    )
    set_width(driver, width, min(int(height), 4000))
    png = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}
    )["data"]
    set_width(driver, width)
    path = SHOTS / f"{name}-{width}.png"
    path.write_bytes(base64.b64decode(png))
    return path


def downloaded(directory: str, name: str) -> bytes | None:
    path = os.path.join(directory, name)
    if os.path.exists(path) and not os.path.exists(path + ".crdownload"):
        with open(path, "rb") as handle:
            return handle.read()
    return None
