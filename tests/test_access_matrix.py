"""Every route against every kind of caller, generated from the URL map.

A route is found in ``app.url_map``; the table below must say who may call it
and how to call it, so a new route without an entry fails this test. Each
route runs on a fresh app against seven callers: anonymous, the customer who
owns the objects, another customer, a banker, an auditor, a user disabled
after their token was issued, and a token revoked by logout.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from app.models import utc_now
from app.models.account import AccountModel
from app.models.user import UserModel
from tests.conftest import PASSWORD, register
from tests.factories import flagged_deposit, fund, make_user
from tests.helpers import make_app

PRINCIPALS = (
    "anonymous",
    "revoked",
    "disabled",
    "other",
    "auditor",
    "banker",
    "customer",  # last: some of its calls end its session or change its data
)
# Who may call a route: everyone, any logged-in user, customers, staff
# (banker and auditor) reading, or bankers only.
PUBLIC, ANY_USER, CUSTOMER, STAFF_READ, BANKER = (
    "public",
    "any_user",
    "customer",
    "staff_read",
    "banker",
)
# The object's owner and staff read it; another customer gets 404.
OWNER_OR_STAFF = "owner_or_staff"
DOCS = {
    "docs.static": "/docs/assets/swagger-ui.css",
    "static": "/static/redoc/redoc.standalone.js",
    "web.asset": "/app/assets/main.js",
}


@dataclass
class World:
    """The callers and objects of one fresh app."""

    app: Any
    headers: dict[str, dict]
    refresh: dict[str, dict]
    account: str  # the customer's account number
    customer_id: str
    payee_id: str  # one of the customer's payees (randy's account)
    goal_id: str  # one of the customer's savings goals, holding 10.00
    order_id: str  # one of the customer's standing orders (to randy), active
    randy_account: str  # another customer's account, a payee of the customer's
    loans: dict  # the customer's loans by status: submitted, approved, active
    review_id: str  # the open review of a flagged movement (grace's large deposit)
    approval_id: str  # the customer's pending approval (a withdrawal of 10000.00)


def build_world() -> World:
    app = make_app()
    client = app.test_client()
    customer = register(client, "carol")
    dave = register(client, "dave")
    others = {name: register(client, name) for name in ("grace", "randy")}
    for username, role in (("bernie", "banker"), ("audrey", "auditor")):
        make_user(app, username, PASSWORD, role=role)
    fund(app, customer["account"]["account_number"], 50_000)
    fund(app, dave["account"]["account_number"], 50_000)
    headers, refresh = {}, {}
    for principal, username in (
        ("customer", "carol"),
        ("other", "dave"),
        ("banker", "bernie"),
        ("auditor", "audrey"),
        ("disabled", "grace"),
        ("revoked", "randy"),
    ):
        body = client.post(
            "/auth/login", json={"username": username, "password": PASSWORD}
        ).get_json()
        headers[principal] = {"Authorization": f"Bearer {body['access_token']}"}
        refresh[principal] = {"Authorization": f"Bearer {body['refresh_token']}"}
    assert client.post("/auth/logout", headers=headers["revoked"]).status_code == 204
    with app.app_context():
        from app.db import get_db

        get_db()["users"].update_one(
            {"username": "grace"},
            {"$set": {"active": False, "tokens_valid_after": utc_now()}},
        )
    payee = client.post(
        "/payees",
        json={"account_number": others["randy"]["account"]["account_number"],
              "name": "randy"},
        headers=headers["customer"],
    )  # fmt: skip
    assert payee.status_code == 201, payee.get_json()
    goal = client.post(
        "/goals", json={"name": "Rainy day"}, headers=headers["customer"]
    )
    assert goal.status_code == 201, goal.get_json()
    goal_id = goal.get_json()["id"]
    saved = client.post(
        f"/goals/{goal_id}/deposits", json={"amount": "10.00"},
        headers=headers["customer"],
    )  # fmt: skip
    assert saved.status_code == 201, saved.get_json()
    randy_account = others["randy"]["account"]["account_number"]
    order = client.post(
        "/scheduled-transfers", headers=headers["customer"],
        json={"to_account_number": randy_account, "amount": "1.00",
              "start_date": "2099-01-01"},
    )  # fmt: skip
    assert order.status_code == 201, order.get_json()
    headers["anonymous"] = refresh["anonymous"] = {}
    return World(
        app, headers, refresh, customer["account"]["account_number"],
        customer["user"]["id"], payee.get_json()["id"], goal_id,
        order.get_json()["id"], randy_account, open_loans(client, headers),
        flagged_deposit(app, others["grace"]["account"]["account_number"]),
        ask_approval(app, client, customer["account"]["account_number"],
                     headers["customer"]),
    )  # fmt: skip


def ask_approval(app, client, number: str, headers: dict) -> str:
    """Fund the customer past APPROVAL_THRESHOLD and ask to withdraw it."""
    fund(app, number, 1_000_000)
    asked = client.post("/withdraw", json={"amount": "10000.00"}, headers=headers)
    assert asked.status_code == 202, asked.get_json()
    return asked.get_json()["approval"]["id"]


def open_loans(client, headers) -> dict:
    """The customer's loans: one submitted, one approved, one disbursed."""
    product = client.post("/banker/loan-products", headers=headers["banker"],
                          json=LOAN_PRODUCT).get_json()  # fmt: skip
    loans = {}
    for status in ("submitted", "approved", "active"):
        loan = client.post(
            "/loans", headers=headers["customer"],
            json={"product_id": product["id"], "amount": "1000.00", "term_months": 12},
        ).get_json()  # fmt: skip
        steps = {"submitted": (), "approved": ("approve",),
                 "active": ("approve", "disburse")}[status]  # fmt: skip
        for step in steps:
            done = client.post(f"/banker/loans/{loan['id']}/{step}",
                               headers=headers["banker"])  # fmt: skip
            assert done.status_code == 200, done.get_json()
        loans[status] = loan["id"]
    return loans


LOAN_PRODUCT = {
    "name": "Matrix loan", "annual_rate": "6.00", "min_amount": "100.00",
    "max_amount": "5000.00", "min_term_months": 1, "max_term_months": 24,
}  # fmt: skip


def amount(_world, _who):
    return {"json": {"amount": "1.00"}}


def new_user(_world, who):
    return {"json": {"username": f"new-{who}", "password": PASSWORD}}


def new_staff(_world, who):
    return {
        "json": {"username": f"staff-{who}", "password": PASSWORD, "role": "auditor"}
    }


def transfer(world, _who):
    return {"json": {"amount": "1.00", "to_account_number": world.account}}


def new_payee(world, who):
    """The customer adds dave's account; anyone else adds the customer's."""
    if who != "customer":
        return {"json": {"account_number": world.account, "name": "carol"}}
    with world.app.app_context():
        dave = AccountModel().find_by_id(UserModel().find_by_username("dave")["_id"])
    return {"json": {"account_number": dave["account_number"], "name": "dave"}}


def new_order(world, _who):
    return {"json": {"to_account_number": world.randy_account, "amount": "1.00",
                     "start_date": "2099-01-01"}}  # fmt: skip


def new_loan(world, _who):
    with world.app.app_context():
        from app.db import get_db

        product = get_db()["loan_products"].find_one()
    return {"json": {"product_id": str(product["_id"]), "amount": "500.00",
                     "term_months": 6}}  # fmt: skip


def change_password(_world, _who):
    return {
        "json": {"current_password": PASSWORD, "new_password": "another-Passphrase-9"}
    }


# (method, rule) -> (who may call, success status, request kwargs, object-level)
# object-level: another customer gets 404 for the owner's object.
ROUTES = {
    ("GET", "/health"): (PUBLIC, 200, None, False),
    ("GET", "/health/live"): (PUBLIC, 200, None, False),
    ("GET", "/health/ready"): (PUBLIC, 200, None, False),
    # Off unless METRICS_ENABLED (tests/test_observability.py covers it on).
    ("GET", "/metrics"): (PUBLIC, 404, None, False),
    ("GET", "/openapi.json"): (PUBLIC, 200, None, False),
    ("GET", "/docs"): (PUBLIC, 200, None, False),
    ("GET", "/redoc"): (PUBLIC, 200, None, False),
    ("GET", "/docs/assets/<path:filename>"): (PUBLIC, 200, None, False),
    ("GET", "/static/<path:filename>"): (PUBLIC, 200, None, False),
    # The web front end: one public page for every /app/ path, and its files.
    ("GET", "/app"): (PUBLIC, 200, None, False),
    ("GET", "/app/"): (PUBLIC, 200, None, False),
    ("GET", "/app/<path:path>"): (PUBLIC, 200, None, False),
    ("GET", "/app/assets/<path:filename>"): (PUBLIC, 200, None, False),
    ("POST", "/auth/register"): (PUBLIC, 201, new_user, False),
    ("POST", "/auth/login"): (
        PUBLIC,
        200,
        lambda w, who: {"json": {"username": "dave", "password": PASSWORD}},
        False,
    ),  # fmt: skip
    ("POST", "/auth/refresh"): (ANY_USER, 200, "refresh", False),
    ("POST", "/auth/logout"): (ANY_USER, 204, None, False),
    ("GET", "/auth/me"): (ANY_USER, 200, None, False),
    ("PATCH", "/auth/me"): (
        ANY_USER,
        200,
        lambda w, who: {"json": {"full_name": f"Matrix {who}"}},
        False,
    ),  # fmt: skip
    ("POST", "/auth/password-reset"): (
        PUBLIC,
        202,
        lambda w, who: {"json": {"username": "carol"}},
        False,
    ),  # fmt: skip
    # No code was sent: refused for the code (the same 400 for everyone).
    ("POST", "/auth/password-reset/confirm"): (
        PUBLIC,
        400,
        lambda w, who: {
            "json": {
                "username": "carol",
                "code": "00000000",
                "new_password": "another-Passphrase-9",
            }
        },
        False,
    ),  # fmt: skip
    ("GET", "/auth/logins"): (ANY_USER, 200, None, False),
    ("POST", "/auth/change-password"): (ANY_USER, 204, change_password, False),
    ("GET", "/balance"): (CUSTOMER, 200, None, False),
    ("GET", "/accounts"): (CUSTOMER, 200, None, False),
    ("POST", "/accounts"): (
        CUSTOMER,
        201,
        lambda w, who: {"json": {"kind": "savings"}},
        False,
    ),
    ("GET", "/accounts/<account_number>"): (CUSTOMER, 200, None, True),
    ("POST", "/deposit"): (CUSTOMER, 201, amount, False),
    ("POST", "/withdraw"): (CUSTOMER, 201, amount, False),
    ("POST", "/transfers"): (CUSTOMER, 201, transfer, False),
    ("GET", "/transactions"): (CUSTOMER, 200, None, False),
    # Statements (<month>: the current month) and analytics.
    ("GET", "/accounts/<account_number>/statements"): (CUSTOMER, 200, None, True),
    ("GET", "/accounts/<account_number>/statements/<month>"): (
        CUSTOMER,
        200,
        None,
        True,
    ),  # fmt: skip
    ("GET", "/banker/accounts/<account_number>/statements"): (
        STAFF_READ,
        200,
        None,
        False,
    ),  # fmt: skip
    ("GET", "/banker/accounts/<account_number>/statements/<month>"): (
        STAFF_READ,
        200,
        None,
        False,
    ),  # fmt: skip
    ("GET", "/analytics/monthly"): (CUSTOMER, 200, None, False),
    ("GET", "/analytics/monthly.png"): (CUSTOMER, 200, None, False),
    ("GET", "/analytics/monthly.svg"): (CUSTOMER, 200, None, False),
    ("GET", "/dashboard"): (CUSTOMER, 200, None, False),
    ("GET", "/notifications"): (CUSTOMER, 200, None, False),
    ("POST", "/notifications/<notification_id>/read"): (CUSTOMER, 200, None, True),
    ("GET", "/notifications/preferences"): (CUSTOMER, 200, None, False),
    ("PATCH", "/notifications/preferences"): (
        CUSTOMER,
        200,
        lambda w, who: {"json": {"email": False}},
        False,
    ),  # fmt: skip
    ("GET", "/payees"): (CUSTOMER, 200, None, False),
    ("POST", "/payees"): (CUSTOMER, 201, new_payee, False),
    ("GET", "/payees/<payee_id>"): (CUSTOMER, 200, None, True),
    ("PATCH", "/payees/<payee_id>"): (
        CUSTOMER,
        200,
        lambda w, who: {"json": {"nickname": "Randy"}},
        True,
    ),
    ("DELETE", "/payees/<payee_id>"): (CUSTOMER, 204, None, True),
    ("GET", "/goals"): (CUSTOMER, 200, None, False),
    ("POST", "/goals"): (
        CUSTOMER,
        201,
        lambda w, who: {"json": {"name": f"Goal of {who}"}},
        False,
    ),  # fmt: skip
    ("GET", "/goals/<goal_id>"): (CUSTOMER, 200, None, True),
    ("PATCH", "/goals/<goal_id>"): (
        CUSTOMER,
        200,
        lambda w, who: {"json": {"name": "Renamed"}},
        True,
    ),  # fmt: skip
    ("DELETE", "/goals/<goal_id>"): (CUSTOMER, 200, None, True),
    ("POST", "/goals/<goal_id>/deposits"): (CUSTOMER, 201, amount, True),
    ("POST", "/goals/<goal_id>/withdrawals"): (CUSTOMER, 201, amount, True),
    ("GET", "/scheduled-transfers"): (CUSTOMER, 200, None, False),
    ("POST", "/scheduled-transfers"): (CUSTOMER, 201, new_order, False),
    ("GET", "/scheduled-transfers/<order_id>"): (CUSTOMER, 200, None, True),
    ("GET", "/scheduled-transfers/<order_id>/runs"): (CUSTOMER, 200, None, True),
    ("POST", "/scheduled-transfers/<order_id>/pause"): (CUSTOMER, 200, None, True),
    # The order is active: resuming it is refused for its state, not its caller.
    ("POST", "/scheduled-transfers/<order_id>/resume"): (CUSTOMER, 409, None, True),
    ("POST", "/scheduled-transfers/<order_id>/cancel"): (CUSTOMER, 200, None, True),
    ("GET", "/limits"): (CUSTOMER, 200, None, False),
    ("PATCH", "/limits"): (
        CUSTOMER,
        200,
        lambda w, who: {"json": {"daily_limit": "100.00"}},
        False,
    ),  # fmt: skip
    ("GET", "/loan-products"): (ANY_USER, 200, None, False),
    ("POST", "/banker/loan-products"): (
        BANKER,
        201,
        lambda w, who: {"json": LOAN_PRODUCT},
        False,
    ),  # fmt: skip
    ("GET", "/loans"): (CUSTOMER, 200, None, False),
    ("POST", "/loans"): (CUSTOMER, 201, new_loan, False),
    ("GET", "/loans/<loan_id>"): (OWNER_OR_STAFF, 200, None, True),
    ("GET", "/loans/<loan_id>/schedule"): (OWNER_OR_STAFF, 200, None, True),
    ("POST", "/loans/<loan_id>/withdraw"): (CUSTOMER, 200, None, True),
    ("POST", "/loans/<loan_id>/repayments"): (CUSTOMER, 201, amount, True),
    ("GET", "/banker/loans"): (STAFF_READ, 200, None, False),
    ("POST", "/banker/loans/<loan_id>/approve"): (BANKER, 200, None, False),
    ("POST", "/banker/loans/<loan_id>/reject"): (
        BANKER,
        200,
        lambda w, who: {"json": {"reason": "No"}},
        False,
    ),  # fmt: skip
    ("POST", "/banker/loans/<loan_id>/disburse"): (BANKER, 200, None, False),
    ("GET", "/banker/jobs"): (STAFF_READ, 200, None, False),
    ("POST", "/banker/jobs/<name>/run"): (BANKER, 200, None, False),
    ("GET", "/banker/accounts"): (STAFF_READ, 200, None, False),
    ("GET", "/banker/transactions"): (STAFF_READ, 200, None, False),
    ("GET", "/banker/reviews"): (STAFF_READ, 200, None, False),
    # Only the banker's close reaches the review (it is open until then).
    ("GET", "/approvals"): (CUSTOMER, 200, None, False),
    ("POST", "/approvals/<approval_id>/cancel"): (CUSTOMER, 200, None, True),
    ("GET", "/banker/approvals"): (STAFF_READ, 200, None, False),
    ("POST", "/banker/approvals/<approval_id>/approve"): (BANKER, 200, None, False),
    ("POST", "/banker/approvals/<approval_id>/reject"): (
        BANKER,
        200,
        lambda w, who: {"json": {"reason": "No"}},
        False,
    ),  # fmt: skip
    ("POST", "/banker/reviews/<review_id>/close"): (
        BANKER,
        200,
        lambda w, who: {"json": {"outcome": "legitimate"}},
        False,
    ),  # fmt: skip
    ("GET", "/banker/ledger/check"): (STAFF_READ, 200, None, False),
    ("GET", "/banker/ledger/summary"): (STAFF_READ, 200, None, False),
    ("GET", "/banker/users"): (STAFF_READ, 200, None, False),
    ("GET", "/banker/users/<user_id>"): (STAFF_READ, 200, None, False),
    ("GET", "/banker/reports/monthly"): (STAFF_READ, 200, None, False),
    ("GET", "/banker/reports/logins"): (STAFF_READ, 200, None, False),
    ("GET", "/audit/events"): (STAFF_READ, 200, None, False),
    ("GET", "/audit/verify"): (STAFF_READ, 200, None, False),
    ("POST", "/banker/staff"): (BANKER, 201, new_staff, False),
    ("POST", "/banker/customers"): (BANKER, 201, new_user, False),
    ("POST", "/banker/accounts"): (
        BANKER,
        201,
        lambda w, who: {"json": {"username": "carol", "kind": "savings"}},
        False,
    ),  # fmt: skip
    ("PATCH", "/banker/accounts/<account_number>"): (
        BANKER,
        200,
        lambda w, who: {"json": {"status": "active"}},
        False,
    ),  # fmt: skip
    ("PATCH", "/banker/users/<user_id>"): (
        BANKER,
        200,
        lambda w, who: {"json": {"active": True}},
        False,
    ),  # fmt: skip
}
# The transfer's target is the customer's own account; the customer itself
# sends from a second account so the two sides differ.


def expected(kind: str, success: int, object_level: bool, who: str) -> int:
    if kind == PUBLIC:
        return success
    if who in ("anonymous", "revoked", "disabled"):
        return 401
    if kind == ANY_USER:
        return success
    if kind == CUSTOMER:
        if who not in ("customer", "other"):
            return 403
        return 404 if object_level and who == "other" else success
    if kind == STAFF_READ:
        return success if who in ("banker", "auditor") else 403
    if kind == OWNER_OR_STAFF:
        return 404 if who == "other" else success
    return success if who == "banker" else 403


def app_routes(app) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule, rule.endpoint))
    return sorted(routes)


ALL_ROUTES = app_routes(make_app())


def test_every_route_has_an_entry():
    missing = [(m, r) for m, r, _ in ALL_ROUTES if (m, r) not in ROUTES]
    assert missing == []
    assert len(ROUTES) == len(ALL_ROUTES)


def customer_notification(world: World) -> str:
    """The id of an in-app notification of the customer's (queued once)."""
    from app.core import notifications
    from app.db import get_db

    with world.app.app_context():
        user = UserModel().find_by_id(world.customer_id)
        notifications.queue(user, "matrix", "matrix", "Matrix", "A notification.")
        found = get_db()["notifications"].find_one(
            {"user_id": user["_id"], "channel": "in_app"}
        )
    return str(found["_id"])


def call(world: World, method: str, rule: str, endpoint: str, who: str):
    kind, _success, make, _obj = ROUTES[(method, rule)]
    path = DOCS.get(endpoint, rule)
    path = path.replace("<account_number>", world.account)
    path = path.replace("<user_id>", world.customer_id)
    path = path.replace("<payee_id>", world.payee_id)
    path = path.replace("<goal_id>", world.goal_id)
    path = path.replace("<order_id>", world.order_id)
    path = path.replace("<review_id>", world.review_id)
    path = path.replace("<approval_id>", world.approval_id)
    if "<notification_id>" in path:
        path = path.replace("<notification_id>", customer_notification(world))
    path = path.replace("<name>", "audit_movements")
    path = path.replace("<month>", utc_now().strftime("%Y-%m"))  # BANK_TIMEZONE UTC
    # Each loan route acts on a loan in the state it needs.
    loan_state = "submitted"
    if rule.endswith("/disburse"):
        loan_state = "approved"
    elif rule.endswith("/repayments"):
        loan_state = "active"
    path = path.replace("<loan_id>", world.loans[loan_state])
    kwargs: dict = {}
    headers = dict(world.headers[who])
    if make == "refresh":
        headers = dict(world.refresh[who])
    elif make is not None:
        kwargs = make(world, who)
    if rule == "/transfers" and who == "customer":
        client = world.app.test_client()
        second = client.post("/accounts", json={"kind": "savings"}, headers=headers)
        number = second.get_json()["account_number"]
        fund(world.app, number, 1_000)
        kwargs["json"] = {**kwargs["json"], "from_account_number": number}
    return world.app.test_client().open(path, method=method, headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("method", "rule", "endpoint"),
    ALL_ROUTES,
    ids=[f"{m} {r}" for m, r, _ in ALL_ROUTES],
)
def test_every_route_answers_every_principal_as_expected(method, rule, endpoint):
    if (method, rule) not in ROUTES:
        pytest.fail(f"no access-matrix entry for {method} {rule}")
    world = build_world()
    kind, success, _make, object_level = ROUTES[(method, rule)]
    seen, wanted = {}, {}
    for who in PRINCIPALS:
        response = call(world, method, rule, endpoint, who)
        seen[who] = response.status_code
        wanted[who] = expected(kind, success, object_level, who)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (who, response)
    assert seen == wanted


def test_the_matrix_can_tell_a_missing_role_check():
    """With one admin route's role check loosened to "any user", its row fails."""
    from app.security import roles_required

    world = build_world()
    endpoint = "banker.create_staff"
    checked = world.app.view_functions[endpoint]
    world.app.view_functions[endpoint] = roles_required()(checked.__wrapped__)
    seen = {
        who: call(world, "POST", "/banker/staff", endpoint, who).status_code
        for who in PRINCIPALS
    }
    wanted = {who: expected(BANKER, 201, False, who) for who in PRINCIPALS}
    assert seen != wanted
    assert seen["auditor"] == 201 and wanted["auditor"] == 403
