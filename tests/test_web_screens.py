"""Every main screen of the web front end at 375 and 1280 px, in real Chromium.

On each: axe-core (vendored, tests/vendor/axe-core) finds no serious or
critical WCAG 2.1 A/AA violation, the page is no wider than the window, and a
screenshot is written to screenshots/ (git-ignored). Also: the policy is
enforced (an injected inline script does not run and is reported), the page
loads nothing from elsewhere, and a person can sign in and move money with
the keyboard alone, always seeing where the focus is.
"""

import json
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.keys import Keys

from app.views.web import WEB_CSP
from tests.browser import hosts_requested, wait
from tests.factories import flagged_deposit, fund
from tests.web import (
    SHOTS,
    WIDTHS,
    policy_violations,
    run_axe,
    screenshot,
    set_width,
    web_session,
)

SERIOUS = ("serious", "critical")

# (name, path, who): who is "anonymous", "customer" or "banker".
SCREENS = [
    ("sign-in", "/app/login", "anonymous"),
    ("sign-up", "/app/signup", "anonymous"),
    ("reset-password", "/app/reset", "anonymous"),
    ("overview", "/app/", "customer"),
    ("history", "/app/history", "customer"),
    ("deposit", "/app/deposit", "customer"),
    ("transfer-confirm", "/app/transfer", "customer"),
    ("withdraw-refused", "/app/withdraw", "customer"),
    ("goals", "/app/goals", "customer"),
    ("payees", "/app/payees", "customer"),
    ("scheduled", "/app/scheduled", "customer"),
    ("statements", "/app/statements", "customer"),
    ("loans", "/app/loans", "customer"),
    ("loan", "/app/loans/{loan_id}", "customer"),
    ("approvals", "/app/approvals", "customer"),
    ("notifications", "/app/notifications", "customer"),
    ("settings", "/app/settings", "customer"),
    ("staff-accounts", "/app/staff/accounts", "banker"),
    ("staff-customers", "/app/staff/customers", "banker"),
    ("staff-transactions", "/app/staff/transactions", "banker"),
    ("staff-approvals", "/app/staff/approvals", "banker"),
    ("staff-reviews", "/app/staff/reviews", "banker"),
    ("staff-loans", "/app/staff/loans", "banker"),
    ("staff-report", "/app/staff/report", "banker"),
    ("staff-ledger", "/app/staff/ledger", "banker"),
    ("staff-audit", "/app/staff/audit", "banker"),
]


@pytest.fixture(scope="module")
def bank():
    """A bank with something on every screen: Alice's history, a goal, payees,
    a standing order, a loan being repaid, a large withdrawal waiting, a flagged
    deposit, a notification; and a banker."""
    with web_session() as web:
        alice = web.customer("alice", cents=0, full_name="Alice Martin")
        bob = web.customer("bob", full_name="Bob Chen")
        h = alice["headers"]
        web.call("POST", "/deposit", h, {"amount": "2450.00", "description": "Salary"})
        for amount, text in (
            ("84.20", "Groceries"),
            ("950.00", "Rent"),
            ("12.60", "Coffee"),
        ):
            web.call("POST", "/withdraw", h, {"amount": amount, "description": text})
        web.call(
            "POST",
            "/transfers",
            h,
            {
                "to_account_number": bob["number"],
                "amount": "40.00",
                "description": "Dinner",
            },
        )
        goal = web.call(
            "POST", "/goals", h, {"name": "Holiday", "target_amount": "1200.00"}
        )
        web.call("POST", f"/goals/{goal['id']}/deposits", h, {"amount": "300.00"})
        web.call(
            "POST",
            "/payees",
            h,
            {"account_number": bob["number"], "name": "Bob Chen", "nickname": "Bob"},
        )
        today = web.driver.execute_script("return new Date().toISOString().slice(0,10)")
        web.call(
            "POST",
            "/scheduled-transfers",
            h,
            {
                "to_account_number": bob["number"],
                "amount": "25.00",
                "start_date": today,
                "recurrence": {"frequency": "monthly"},
            },
        )
        banker = web.staff()
        product = web.call("GET", "/loan-products", h)["items"][0]["id"]
        loan = web.call(
            "POST",
            "/loans",
            h,
            {
                "product_id": product,
                "amount": "1000.00",
                "term_months": 12,
                "purpose": "A bike",
            },
        )
        web.call("POST", f"/banker/loans/{loan['id']}/approve", banker["headers"])
        web.call("POST", f"/banker/loans/{loan['id']}/disburse", banker["headers"])
        web.call(
            "POST",
            "/loans",
            bob["headers"],
            {"product_id": product, "amount": "600.00", "term_months": 6},
        )
        flagged_deposit(web.app, bob["number"])
        web.call("POST", "/deposit", bob["headers"], {"amount": "3000.00"})
        web.call(
            "POST",
            "/transfers",
            bob["headers"],
            {
                "to_account_number": alice["number"],
                "amount": "1500.00",
                "description": "Thanks",
            },
        )
        fund(web.app, alice["number"], 1_000_000)
        web.call("POST", "/withdraw", h, {"amount": "10000.00", "description": "Car"})
        web.call("POST", "/banker/jobs/notifications/run", banker["headers"])
        web.people = {"customer": alice, "banker": banker, "loan_id": loan["id"]}
        yield web


@pytest.fixture
def web(bank):
    bank.console()
    yield bank
    assert policy_violations(bank.console()) == []


def prepare(web, name: str) -> None:
    """Put a screen in the state its screenshot shows."""
    if name == "transfer-confirm":
        web.choose("To a payee", "Bob")
        web.fill("Amount", "1250.00")
        web.fill("Description", "Rent share")
        web.press("Review")
    elif name == "withdraw-refused":
        web.fill("Amount", "99999.00")
        web.press("Review")
        web.press("Confirm the withdraw")
        web.wait_problem("Insufficient funds")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_screen_passes_axe_fits_and_is_photographed(web, width, capsys):
    set_width(web.driver, width)
    signed_in = None
    report = {}
    for name, path, who in SCREENS:
        path = path.format(loan_id=web.people["loan_id"])
        if who != signed_in:
            if who == "anonymous":
                web.open(path)
            else:
                web.sign_in(web.people[who]["username"], then=path)
            signed_in = who
        else:
            web.visit(path)
        prepare(web, name)
        wait(web.driver).until(
            lambda d: d.execute_script(
                "return [...document.images].every(i => i.complete)"
            )
        )
        assert web.problems() == [] or name == "withdraw-refused", (
            name,
            web.problems(),
        )
        report[name] = run_axe(web.driver)
        overflow = web.driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, (name, width, overflow)
        screenshot(web.driver, name, width)
    SHOTS.mkdir(exist_ok=True)
    (SHOTS / f"axe-{width}.json").write_text(json.dumps(report, indent=1))
    counts = {
        impact: sum(1 for v in report.values() for x in v if x["impact"] == impact)
        for impact in ("critical", "serious", "moderate", "minor")
    }
    with capsys.disabled():
        print(f"\naxe at {width} px over {len(report)} screens: {counts}")
    serious = {
        name: [
            (v["id"], v["impact"], v["nodes"][:3])
            for v in found
            if v["impact"] in SERIOUS
        ]
        for name, found in report.items()
    }
    assert {name: found for name, found in serious.items() if found} == {}


def test_the_policy_is_sent_and_enforced_and_nothing_loads_from_elsewhere(web):
    web.driver.get_log("performance")
    web.open("/app/login")
    messages = web.network()
    documents = [
        m["params"]["response"]
        for m in messages
        if m["method"] == "Network.responseReceived"
        and m["params"]["type"] == "Document"
    ]
    headers = {k.lower(): v for k, v in documents[-1]["headers"].items()}
    assert headers["content-security-policy"] == WEB_CSP
    assert hosts_requested(messages) == {urlsplit(web.server).netloc}
    # An inline script, as an injection would add one: refused and reported.
    ran = web.driver.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.injected = true';"
        "document.body.append(s);"
        "return window.injected === true;"
    )
    assert ran is False
    logged = policy_violations(web.console())
    assert len(logged) == 1 and "Content Security Policy" in logged[0]


def focus_ring(driver) -> tuple[str, float]:
    style, width = driver.execute_script(
        "const s = getComputedStyle(document.activeElement);"
        "return [s.outlineStyle, parseFloat(s.outlineWidth)];"
    )
    return style, width


def test_keyboard_alone_signs_in_and_deposits_with_focus_always_visible(web):
    alice = web.people["customer"]
    web.open("/app/login")

    def press(*keys):
        web.driver.switch_to.active_element.send_keys(*keys)

    def focused() -> str:
        return web.driver.execute_script(
            "const e = document.activeElement;"
            "const label = e.labels && e.labels[0];"
            "return (label ? label.childNodes[0].textContent : e.textContent).trim();"
        )

    def tab_to(name: str, backwards: bool = False) -> None:
        for _ in range(25):
            press(Keys.SHIFT, Keys.TAB) if backwards else press(Keys.TAB)
            style, width = focus_ring(web.driver)
            assert style != "none" and width >= 2, (focused(), style, width)
            if focused() == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    # The sign-in page starts in its first field; the skip link is before it.
    assert focused() == "Username"
    tab_to("Skip to content", backwards=True)
    press(Keys.ENTER)
    assert web.driver.switch_to.active_element.tag_name == "main"
    tab_to("Username")
    press(alice["username"], Keys.TAB, alice["password"], Keys.ENTER)
    web.wait_text("Total balance")
    # Focus is on the screen's heading; the navigation is before it.
    assert focused() == "Overview"
    tab_to("Deposit", backwards=True)
    press(Keys.ENTER)
    web.settle()
    assert web.heading() == "Deposit" and focused() == "Deposit"
    tab_to("Amount")
    press("5.55", Keys.ENTER)  # Enter submits: the confirmation step
    web.wait_text("Check and confirm")
    tab_to("Confirm the deposit")
    press(Keys.ENTER)
    assert "New balance" in web.wait_text("Deposit made")
