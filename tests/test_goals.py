"""Savings goals over HTTP and as use cases: open, list, change, money in and out,
completion, progress, limits, round-ups, retries."""

from datetime import UTC, date, datetime, timedelta

import pytest
from bson import ObjectId

from app.commands import run_recovery
from app.controllers.ledger import check_report
from app.core import goals as goal_cases
from app.core import movements, roundups
from app.core.errors import InvalidRequest
from app.core.goals import GoalRules, NewGoal, progress
from app.core.movements import Caller, TransferOrder, Withdrawal
from app.db import get_db
from app.models.account import AccountModel
from app.models.goal import GoalModel
from app.models.user import UserModel
from tests import faults
from tests import query_recorder as qr
from tests.factories import balance_cents, fund
from tests.helpers import assert_problem

FUNDED = 100_000  # 1000.00 on the customer's primary account
GOAL_FIELDS = {
    "id", "name", "account_number", "status", "balance", "currency",
    "target_amount", "target_date", "round_up", "progress", "created_at",
    "completed_at", "closed_at",
}  # fmt: skip
PROGRESS_FIELDS = {"saved", "remaining", "percent", "on_track", "needed_per_month"}
TRANSFER_FIELDS = {
    "id", "from_account_number", "to_account_number", "amount", "currency",
    "description", "created_at",
}  # fmt: skip


def future(days: int = 400) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def open_goal(client, customer, **body):
    body.setdefault("name", "Holiday")
    response = client.post("/goals", headers=customer["headers"], json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def pay_in(client, customer, goal, amount, **extra):
    return client.post(
        f"/goals/{goal['id']}/deposits",
        headers={**customer["headers"], **extra.pop("headers", {})},
        json={"amount": amount, **extra},
    )


def take_out(client, customer, goal, amount, **extra):
    return client.post(
        f"/goals/{goal['id']}/withdrawals",
        headers={**customer["headers"], **extra.pop("headers", {})},
        json={"amount": amount, **extra},
    )


def primary(customer) -> str:
    return customer["account"]["account_number"]


def check(app) -> dict:
    """The reconciliation ``flask ledger check`` and the banker route run."""
    with app.app_context():
        return check_report()


@pytest.fixture
def funded(app, customer):
    fund(app, primary(customer), FUNDED)
    return customer


GOAL_ROUTES = [
    ("GET", "/goals"), ("POST", "/goals"), ("GET", "/goals/{id}"),
    ("PATCH", "/goals/{id}"), ("DELETE", "/goals/{id}"),
    ("POST", "/goals/{id}/deposits"), ("POST", "/goals/{id}/withdrawals"),
]  # fmt: skip


@pytest.mark.parametrize("method, path", GOAL_ROUTES)
def test_goal_routes_need_a_customers_token(client, customer, banker, method, path):
    goal = open_goal(client, customer)
    url = path.replace("{id}", goal["id"])
    body = {"json": {"amount": "1.00"}} if method != "GET" else {}
    assert_problem(client.open(url, method=method, **body), 401, "token_missing")
    refused = client.open(url, method=method, headers=banker["headers"], **body)
    assert_problem(refused, 403, "forbidden")
    assert (
        client.get(f"/goals/{goal['id']}", headers=customer["headers"]).get_json()[
            "status"
        ]
        == "active"
    )


# -- opening ------------------------------------------------------------------


def test_open_goal_returns_the_goal_object(app, client, customer):
    body = open_goal(client, customer, name="Bike")
    assert set(body) == GOAL_FIELDS
    assert set(body["progress"]) == PROGRESS_FIELDS
    assert body["name"] == "Bike" and body["status"] == "active"
    assert body["balance"] == "0.00" and body["currency"] == "USD"
    assert body["target_amount"] is None and body["target_date"] is None
    assert body["round_up"] is False
    assert body["progress"] == {
        "saved": "0.00", "remaining": None, "percent": None, "on_track": None,
        "needed_per_month": None,
    }  # fmt: skip
    assert body["created_at"].endswith("Z")
    assert body["completed_at"] is None and body["closed_at"] is None
    # The goal is a ledger account of kind goal, with the goal's id.
    with app.app_context():
        account = AccountModel().find_by_number(body["account_number"])
    assert str(account["_id"]) == body["id"]
    assert account["kind"] == "goal" and account["balance_cents"] == 0
    assert str(account["user_id"]) == customer["user"]["id"]


def test_open_goal_with_target_date_and_round_up(client, customer):
    body = open_goal(
        client, customer, target_amount="1200.00", target_date=future(), round_up=True
    )
    assert body["target_amount"] == "1200.00"
    assert body["target_date"] == future()
    assert body["round_up"] is True
    progress = body["progress"]
    assert progress["remaining"] == "1200.00" and progress["percent"] == 0
    assert progress["on_track"] is True
    assert progress["needed_per_month"] is not None


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 61}, "name"),
        ({"name": "bad\u202ename"}, "name"),
        ({"name": None}, "name"),
        ({"name": "G", "target_amount": 0}, "target_amount"),
        ({"name": "G", "target_amount": "-5.00"}, "target_amount"),
        ({"name": "G", "target_amount": "1.001"}, "target_amount"),
        ({"name": "G", "target_amount": True}, "target_amount"),
        ({"name": "G", "target_date": "2030/01/01"}, "target_date"),
        ({"name": "G", "target_date": "20300101"}, "target_date"),
        ({"name": "G", "target_date": "2030-02-30"}, "target_date"),
        ({"name": "G", "target_date": 20300101}, "target_date"),
        ({"name": "G", "target_date": "2020-01-01"}, "target_date"),
        ({"name": "G", "round_up": "true"}, "round_up"),
        ({"name": "G", "round_up": 1}, "round_up"),
        ({"name": "G", "status": "completed"}, "status"),
    ],
)
def test_invalid_goal_input_is_422_and_opens_nothing(
    app, client, customer, body, field
):
    response = client.post("/goals", headers=customer["headers"], json=body)
    problem = assert_problem(response, 422, "validation_error")
    assert field in problem["errors"]
    with app.app_context():
        assert get_db()["goals"].count_documents({}) == 0


def test_target_date_today_is_refused(client, customer):
    response = client.post(
        "/goals",
        headers=customer["headers"],
        json={"name": "G", "target_date": date.today().isoformat()},
    )
    assert "target_date" in assert_problem(response, 422, "validation_error")["errors"]


def test_today_is_the_bank_timezones_day(app, customer):
    """At 12:00 UTC on 10 March it is already 11 March on Kiritimati (UTC+14)."""
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    with app.app_context():
        owner = UserModel().find_by_id(customer["user"]["id"])
        timeout = timedelta(seconds=60)
        kiritimati = GoalRules("USD", "Pacific/Kiritimati", 20, timeout)
        utc = GoalRules("USD", "UTC", 20, timeout)
        goal = NewGoal("G", target_date=date(2026, 3, 11))
        with pytest.raises(InvalidRequest):
            goal_cases.open_goal(owner, goal, rules=kiritimati, now=now)
        opened = goal_cases.open_goal(owner, goal, rules=utc, now=now)
    assert opened.target_date == date(2026, 3, 11)


def test_goals_are_not_accounts_in_the_account_list(app, client, customer):
    goal = open_goal(client, customer)
    listed = client.get("/accounts", headers=customer["headers"]).get_json()
    assert [a["account_number"] for a in listed["items"]] == [primary(customer)]
    # The goal's own account object is there for its owner, of kind goal.
    shown = client.get(
        f"/accounts/{goal['account_number']}", headers=customer["headers"]
    )
    assert shown.status_code == 200 and shown.get_json()["kind"] == "goal"


def test_post_accounts_still_opens_only_checking_or_savings(client, customer):
    response = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "goal"}
    )
    assert "kind" in assert_problem(response, 422, "validation_error")["errors"]


def test_goals_do_not_count_towards_the_account_limit(app, client, customer):
    app.config["MAX_ACCOUNTS_PER_CUSTOMER"] = 2
    for number in range(3):
        open_goal(client, customer, name=f"Goal {number}")
    opened = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert opened.status_code == 201, opened.get_json()
    refused = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert_problem(refused, 409, "account_limit_reached")


def test_goal_limit_is_409_and_a_closed_goal_frees_its_place(app, client, customer):
    app.config["MAX_GOALS_PER_CUSTOMER"] = 3
    opened = [open_goal(client, customer, name=f"Goal {n}") for n in range(3)]
    refused = client.post("/goals", headers=customer["headers"], json={"name": "4th"})
    assert_problem(refused, 409, "goal_limit_reached")
    with app.app_context():
        assert get_db()["goals"].count_documents({}) == 3
        goal_accounts = get_db()["accounts"].count_documents({"kind": "goal"})
    assert goal_accounts == 3  # a refusal on the read opens no account
    closed = client.delete(f"/goals/{opened[0]['id']}", headers=customer["headers"])
    assert closed.status_code == 200
    open_goal(client, customer, name="4th")


# -- reading --------------------------------------------------------------------


def test_list_goals_newest_first_paginated_and_filtered(
    client, customer, other_customer
):
    first, second, third = (
        open_goal(client, customer, name=name) for name in ("A", "B", "C")
    )
    open_goal(client, other_customer, name="Not mine")
    page = client.get("/goals?limit=2", headers=customer["headers"]).get_json()
    assert [g["id"] for g in page["items"]] == [third["id"], second["id"]]
    rest = client.get(
        f"/goals?limit=2&cursor={page['next_cursor']}", headers=customer["headers"]
    ).get_json()
    assert [g["id"] for g in rest["items"]] == [first["id"]]
    assert rest["next_cursor"] is None
    client.delete(f"/goals/{second['id']}", headers=customer["headers"])
    closed = client.get("/goals?status=closed", headers=customer["headers"]).get_json()
    assert [g["id"] for g in closed["items"]] == [second["id"]]
    active = client.get("/goals?status=active", headers=customer["headers"]).get_json()
    assert [g["id"] for g in active["items"]] == [third["id"], first["id"]]
    none = client.get("/goals?status=completed", headers=customer["headers"]).get_json()
    assert none == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query", ["status=closing", "status=", "limit=0", "limit=101", "cursor=zz",
              "status=active&status=closed"],
)  # fmt: skip
def test_list_goals_bad_query_is_422(client, customer, query):
    response = client.get(f"/goals?{query}", headers=customer["headers"])
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_another_customers_goal_is_404_like_a_missing_one(
    client, customer, other_customer, method
):
    goal = open_goal(client, customer)
    kwargs = {"json": {"name": "Mine now"}} if method == "PATCH" else {}
    for goal_id in (goal["id"], str(ObjectId()), "not-an-id", "0" * 24):
        response = client.open(
            f"/goals/{goal_id}", method=method, headers=other_customer["headers"],
            **kwargs,
        )  # fmt: skip
        assert_problem(response, 404, "goal_not_found")
    assert (
        client.get(f"/goals/{goal['id']}", headers=customer["headers"]).get_json()[
            "name"
        ]
        == "Holiday"
    )


@pytest.mark.parametrize("route", ["deposits", "withdrawals"])
def test_money_routes_of_another_customers_goal_are_404(
    app, client, funded, other_customer, route
):
    goal = open_goal(client, funded)
    fund(app, other_customer["account"]["account_number"], FUNDED)
    response = client.post(
        f"/goals/{goal['id']}/{route}",
        headers=other_customer["headers"],
        json={"amount": "1.00"},
    )
    assert_problem(response, 404, "goal_not_found")
    assert balance_cents(app, goal["account_number"]) == 0


def test_a_goals_number_is_unknown_to_anyone_but_its_owner(
    app, client, funded, other_customer
):
    goal = open_goal(client, funded)
    fund(app, other_customer["account"]["account_number"], FUNDED)
    sent = client.post(
        "/transfers",
        headers=other_customer["headers"],
        json={"to_account_number": goal["account_number"], "amount": "5.00"},
    )
    assert_problem(sent, 404, "account_not_found")
    shown = client.get(
        f"/accounts/{goal['account_number']}", headers=other_customer["headers"]
    )
    assert_problem(shown, 404, "account_not_found")
    assert balance_cents(app, goal["account_number"]) == 0


def test_the_owner_may_not_spend_from_a_goal_outside_the_goal_routes(client, funded):
    goal = open_goal(client, funded)
    pay_in(client, funded, goal, "10.00")
    for path, body in (
        ("/withdraw", {"amount": "1.00", "account_number": goal["account_number"]}),
        ("/transfers", {"amount": "1.00", "from_account_number": goal["account_number"],
                        "to_account_number": primary(funded)}),
    ):  # fmt: skip
        response = client.post(path, headers=funded["headers"], json=body)
        assert_problem(response, 422, "validation_error")


# -- money in and out ---------------------------------------------------------------


def test_deposit_moves_money_from_the_primary_into_the_goal(app, client, funded):
    goal = open_goal(client, funded, target_amount="100.00")
    response = pay_in(client, funded, goal, "25.50")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"goal", "transfer"}
    assert set(body["goal"]) == GOAL_FIELDS
    assert set(body["transfer"]) == TRANSFER_FIELDS
    assert body["goal"]["balance"] == "25.50"
    assert body["goal"]["progress"]["percent"] == 25
    assert body["goal"]["progress"]["remaining"] == "74.50"
    assert body["transfer"]["from_account_number"] == primary(funded)
    assert body["transfer"]["to_account_number"] == goal["account_number"]
    assert body["transfer"]["amount"] == "25.50"
    assert balance_cents(app, primary(funded)) == FUNDED - 2550
    assert balance_cents(app, goal["account_number"]) == 2550
    with app.app_context():
        legs = list(get_db()["transactions"].find({"transfer_id": ObjectId(
            body["transfer"]["id"])}))  # fmt: skip
    assert sorted(leg["type"] for leg in legs) == ["transfer_in", "transfer_out"]
    assert all(leg["status"] == "posted" for leg in legs)
    assert check(app)["ok"]


def test_deposit_from_another_own_account(app, client, funded):
    savings = client.post(
        "/accounts", headers=funded["headers"], json={"kind": "savings"}
    ).get_json()["account_number"]
    fund(app, savings, 5000)
    goal = open_goal(client, funded)
    response = pay_in(client, funded, goal, "20.00", from_account_number=savings)
    assert response.status_code == 201
    assert response.get_json()["transfer"]["from_account_number"] == savings
    assert balance_cents(app, savings) == 3000
    assert balance_cents(app, primary(funded)) == FUNDED


def test_deposit_more_than_the_source_holds_is_409_and_moves_nothing(
    app, client, funded
):
    goal = open_goal(client, funded)
    response = pay_in(client, funded, goal, "1000.01")
    assert_problem(response, 409, "insufficient_funds")
    assert balance_cents(app, primary(funded)) == FUNDED
    assert balance_cents(app, goal["account_number"]) == 0


@pytest.mark.parametrize("whose", ["another customer's", "a goal", "unknown"])
def test_deposit_from_an_account_not_ones_own_plain_account_is_404(
    app, client, funded, other_customer, whose
):
    goal = open_goal(client, funded)
    other_goal = open_goal(client, funded, name="Other")
    pay_in(client, funded, other_goal, "10.00")
    fund(app, other_customer["account"]["account_number"], FUNDED)
    source = {
        "another customer's": other_customer["account"]["account_number"],
        "a goal": other_goal["account_number"],
        "unknown": "0000000000",
    }[whose]
    response = pay_in(client, funded, goal, "1.00", from_account_number=source)
    assert_problem(response, 404, "account_not_found")
    assert balance_cents(app, goal["account_number"]) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"amount": 0}, {"amount": "1.001"}, {"amount": "1.00", "description": "x"},
     {"amount": "1.00", "to_account_number": "1234567890"},
     {"amount": "1.00", "from_account_number": "12345"}],
)  # fmt: skip
def test_invalid_deposit_is_422(app, client, funded, body):
    goal = open_goal(client, funded)
    response = client.post(
        f"/goals/{goal['id']}/deposits", headers=funded["headers"], json=body
    )
    assert_problem(response, 422, "validation_error")
    assert balance_cents(app, primary(funded)) == FUNDED


def test_withdrawal_moves_money_back_to_the_primary_or_another_own_account(
    app, client, funded
):
    savings = client.post(
        "/accounts", headers=funded["headers"], json={"kind": "savings"}
    ).get_json()["account_number"]
    goal = open_goal(client, funded)
    pay_in(client, funded, goal, "50.00")
    response = take_out(client, funded, goal, "20.00")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["goal"]["balance"] == "30.00"
    assert body["transfer"]["from_account_number"] == goal["account_number"]
    assert body["transfer"]["to_account_number"] == primary(funded)
    assert (
        take_out(client, funded, goal, "5.00", to_account_number=savings).status_code
        == 201
    )
    assert balance_cents(app, savings) == 500
    assert balance_cents(app, goal["account_number"]) == 2500
    assert balance_cents(app, primary(funded)) == FUNDED - 5000 + 2000
    assert check(app)["ok"]


def test_withdrawal_of_more_than_the_goal_holds_is_409(app, client, funded):
    goal = open_goal(client, funded)
    pay_in(client, funded, goal, "10.00")
    assert_problem(take_out(client, funded, goal, "10.01"), 409, "insufficient_funds")
    assert balance_cents(app, goal["account_number"]) == 1000


def test_withdrawal_to_another_customers_account_is_404(
    app, client, funded, other_customer
):
    goal = open_goal(client, funded)
    pay_in(client, funded, goal, "10.00")
    response = take_out(
        client, funded, goal, "1.00",
        to_account_number=other_customer["account"]["account_number"],
    )  # fmt: skip
    assert_problem(response, 404, "account_not_found")
    assert balance_cents(app, other_customer["account"]["account_number"]) == 0


def test_a_frozen_goal_account_refuses_money(app, client, funded):
    goal = open_goal(client, funded)
    pay_in(client, funded, goal, "10.00")
    with app.app_context():
        AccountModel().change_status(goal["account_number"], "active", "frozen")
    assert_problem(pay_in(client, funded, goal, "1.00"), 409, "account_frozen")
    assert_problem(take_out(client, funded, goal, "1.00"), 409, "account_frozen")
    assert_problem(
        client.delete(f"/goals/{goal['id']}", headers=funded["headers"]),
        409,
        "account_frozen",
    )
    assert balance_cents(app, goal["account_number"]) == 1000
    with app.app_context():
        AccountModel().change_status(goal["account_number"], "frozen", "active")
    closed = client.delete(f"/goals/{goal['id']}", headers=funded["headers"])
    assert closed.status_code == 200
    assert balance_cents(app, primary(funded)) == FUNDED


# -- completion and progress --------------------------------------------------------


def test_reaching_the_target_completes_the_goal_once(app, client, funded):
    goal = open_goal(client, funded, target_amount="30.00")
    first = pay_in(client, funded, goal, "20.00").get_json()["goal"]
    assert first["status"] == "active" and first["completed_at"] is None
    reached = pay_in(client, funded, goal, "10.00").get_json()["goal"]
    assert reached["status"] == "completed"
    assert reached["completed_at"] is not None
    assert reached["progress"]["percent"] == 100
    assert reached["progress"]["remaining"] == "0.00"
    # Saving may go on, and taking money out does not undo the completion.
    more = pay_in(client, funded, goal, "15.00").get_json()["goal"]
    assert more["status"] == "completed"
    assert more["completed_at"] == reached["completed_at"]
    assert more["progress"]["percent"] == 100
    less = take_out(client, funded, goal, "40.00").get_json()["goal"]
    assert less["status"] == "completed" and less["balance"] == "5.00"
    assert less["progress"]["percent"] == 16
    assert less["progress"]["remaining"] == "25.00"


def test_patch_changes_fields_and_judges_completion_again(client, funded):
    goal = open_goal(client, funded, target_amount="100.00", target_date=future())
    pay_in(client, funded, goal, "40.00")
    renamed = client.patch(
        f"/goals/{goal['id']}",
        headers=funded["headers"],
        json={"name": "Car", "target_date": None},
    )
    assert renamed.status_code == 200, renamed.get_json()
    body = renamed.get_json()
    assert body["name"] == "Car" and body["target_date"] is None
    assert body["progress"]["needed_per_month"] is None
    assert body["progress"]["on_track"] is None
    assert body["status"] == "active"
    lowered = client.patch(
        f"/goals/{goal['id']}",
        headers=funded["headers"],
        json={"target_amount": "40.00"},
    ).get_json()
    assert lowered["status"] == "completed" and lowered["completed_at"]
    raised = client.patch(
        f"/goals/{goal['id']}",
        headers=funded["headers"],
        json={"target_amount": "90.00"},
    ).get_json()
    assert raised["status"] == "completed"
    cleared = client.patch(
        f"/goals/{goal['id']}", headers=funded["headers"], json={"target_amount": None}
    ).get_json()
    assert cleared["target_amount"] is None
    assert cleared["progress"]["percent"] is None
    assert cleared["progress"]["remaining"] is None


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": None}, {"target_amount": "0"},
     {"target_date": "2020-01-01"}, {"round_up": None}, {"status": "closed"},
     {"balance": "5.00"}],
)  # fmt: skip
def test_invalid_patch_is_422_and_changes_nothing(client, customer, body):
    goal = open_goal(client, customer)
    response = client.patch(
        f"/goals/{goal['id']}", headers=customer["headers"], json=body
    )
    assert_problem(response, 422, "validation_error")
    assert (
        client.get(f"/goals/{goal['id']}", headers=customer["headers"]).get_json()
        == goal
    )


def test_money_sent_by_plain_transfer_counts_and_completes_on_read(app, client, funded):
    goal = open_goal(client, funded, target_amount="10.00")
    sent = client.post(
        "/transfers",
        headers=funded["headers"],
        json={"to_account_number": goal["account_number"], "amount": "10.00"},
    )
    assert sent.status_code == 201
    shown = client.get(f"/goals/{goal['id']}", headers=funded["headers"]).get_json()
    assert shown["balance"] == "10.00" and shown["status"] == "completed"


@pytest.mark.parametrize(
    "balance, target, target_date, created, today, expected",
    [
        # No target: only what is saved.
        (500, None, None, date(2026, 1, 1), date(2026, 1, 1),
         (500, None, None, None, None)),
        # A target without a date: no plan to judge against.
        (100, 300, None, date(2026, 1, 1), date(2026, 1, 1),
         (100, 200, 33, None, None)),
        # Percent floors and stops at 100; nothing remains above the target.
        (299, 300, None, date(2026, 1, 1), date(2026, 1, 1), (299, 1, 99, None, None)),
        (900, 300, None, date(2026, 1, 1), date(2026, 1, 1), (900, 0, 100, None, None)),
        # 10 Jan to 10 Mar: 2 months; 1000 - 1 = 999 -> 499.50 rounded up to 500.
        (1, 1000, date(2026, 3, 10), date(2026, 1, 10), date(2026, 1, 10),
         (1, 999, 0, True, 500)),
        # 15 Jan to 20 Mar counts up to 3 months.
        (0, 900, date(2026, 3, 20), date(2026, 1, 15), date(2026, 1, 15),
         (0, 900, 0, True, 300)),
        # 31 Jan to 28 Feb is one month (the month-end rule).
        (0, 700, date(2026, 2, 28), date(2026, 1, 31), date(2026, 1, 31),
         (0, 700, 0, True, 700)),
        # Half way through the plan: on track with half, not with less.
        (500, 1000, date(2026, 1, 21), date(2026, 1, 1), date(2026, 1, 11),
         (500, 500, 50, True, 500)),
        (499, 1000, date(2026, 1, 21), date(2026, 1, 1), date(2026, 1, 11),
         (499, 501, 49, False, 501)),
        # The date has come: all that is missing is needed now, and not on track.
        (100, 1000, date(2026, 1, 21), date(2026, 1, 1), date(2026, 2, 1),
         (100, 900, 10, False, 900)),
        (1000, 1000, date(2026, 1, 21), date(2026, 1, 1), date(2026, 2, 1),
         (1000, 0, 100, True, 0)),
    ],
)  # fmt: skip
def test_progress_rules(balance, target, target_date, created, today, expected):
    judged = progress(balance, target, target_date, created, today)
    assert (
        judged.saved_cents, judged.remaining_cents, judged.percent, judged.on_track,
        judged.needed_per_month_cents,
    ) == expected  # fmt: skip


# -- retries ------------------------------------------------------------------------


def test_a_repeated_key_replays_the_goal_deposit_and_moves_once(app, client, funded):
    goal = open_goal(client, funded)
    key = {"Idempotency-Key": "save-1"}
    first = pay_in(client, funded, goal, "10.00", headers=key)
    again = pay_in(client, funded, goal, "10.00", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.data == first.data
    assert again.headers["Idempotency-Replayed"] == "true"
    assert balance_cents(app, goal["account_number"]) == 1000
    reused = pay_in(client, funded, goal, "11.00", headers=key)
    assert_problem(reused, 422, "idempotency_key_reused")
    # A key is per route and body: the same key on the withdrawal is "reused".
    assert_problem(
        take_out(client, funded, goal, "10.00", headers=key),
        422,
        "idempotency_key_reused",
    )


@pytest.mark.parametrize("route", ["deposits", "withdrawals"])
def test_crash_at_every_write_then_the_retry_moves_once_in_the_goal_shape(
    app, client, funded, route
):
    """A keyed goal movement dies after each of its writes; recovery settles it and
    the retry answers {"goal", "transfer"}, replayed when the money moved."""
    app.config["LEDGER_PENDING_TIMEOUT"] = timedelta(0)
    goal = open_goal(client, funded)
    pay_in(client, funded, goal, "50.00")
    send = take_out if route == "withdrawals" else pay_in
    probe = faults.install(app)
    assert send(client, funded, goal, "1.00").status_code == 201
    faults.uninstall(app, probe)
    writes = len(probe.writes) + 2  # the key's claim and completion
    delta = -500 if route == "deposits" else 500  # on the primary account
    for crash_after in range(writes + 1):
        key = {"Idempotency-Key": f"{route}-{crash_after}"}
        start = balance_cents(app, primary(funded)), balance_cents(
            app, goal["account_number"])  # fmt: skip
        faulty = faults.install(app, crash_after=crash_after)
        with pytest.raises(faults.Crash):
            send(client, funded, goal, "5.00", headers=key)
        faults.uninstall(app, faulty)
        with app.app_context():
            run_recovery()
        assert check(app)["ok"]
        retry = send(client, funded, goal, "5.00", headers=key)
        assert retry.status_code == 201, (crash_after, retry.get_json())
        body = retry.get_json()
        assert set(body) == {"goal", "transfer"}, crash_after
        # Writes 1 to 3: the key's claim, the hold, the debit (the commit point).
        replayed = retry.headers.get("Idempotency-Replayed") == "true"
        assert replayed == (crash_after >= 3), crash_after
        assert body["goal"]["id"] == goal["id"] and body["transfer"]["amount"] == "5.00"
        after = balance_cents(app, primary(funded)), balance_cents(
            app, goal["account_number"])  # fmt: skip
        assert after == (start[0] + delta, start[1] - delta), crash_after
        again = send(client, funded, goal, "5.00", headers=key)
        assert again.data == retry.data and again.headers["Idempotency-Replayed"]
    assert check(app)["ok"]


# -- round-ups -------------------------------------------------------------------


def test_only_one_goal_takes_the_round_ups(client, customer):
    first = open_goal(client, customer, name="A", round_up=True)
    refused = client.post(
        "/goals", headers=customer["headers"], json={"name": "B", "round_up": True}
    )
    assert_problem(refused, 409, "round_up_taken")
    second = open_goal(client, customer, name="B")
    patched = client.patch(
        f"/goals/{second['id']}", headers=customer["headers"], json={"round_up": True}
    )
    assert_problem(patched, 409, "round_up_taken")
    # Handing over: off on the first, then on the second.
    off = client.patch(
        f"/goals/{first['id']}", headers=customer["headers"], json={"round_up": False}
    )
    assert off.get_json()["round_up"] is False
    on = client.patch(
        f"/goals/{second['id']}", headers=customer["headers"], json={"round_up": True}
    )
    assert on.status_code == 200 and on.get_json()["round_up"] is True
    # Asking again for the goal that has them is no conflict.
    again = client.patch(
        f"/goals/{second['id']}", headers=customer["headers"], json={"round_up": True}
    )
    assert again.status_code == 200
    # Closing the round-up goal lets another take them.
    client.delete(f"/goals/{second['id']}", headers=customer["headers"])
    open_goal(client, customer, name="C", round_up=True)


def test_round_up_flags_are_per_customer(client, customer, other_customer):
    open_goal(client, customer, round_up=True)
    open_goal(client, other_customer, round_up=True)


@pytest.fixture
def spender(app, client, funded):
    """A funded customer with a round-up goal: (caller, goal, app context)."""
    goal = open_goal(client, funded, name="Spare change", round_up=True)
    with app.app_context():
        user = UserModel().find_by_id(funded["user"]["id"])
        yield Caller(user), goal


def round_up_after_withdrawal(app, caller, cents, account_number=None):
    movement = movements.withdraw(
        caller, Withdrawal(cents, account_number), currency="USD"
    )
    roundups.after_spending(
        caller, movement, currency="USD", stale_after=timedelta(seconds=60)
    )
    return movement


@pytest.mark.parametrize("cents, spare", [(1234, 66), (1299, 1), (1201, 99), (1200, 0)])
def test_a_withdrawal_from_the_primary_rounds_up_into_the_goal(
    app, spender, funded, cents, spare
):
    caller, goal = spender
    round_up_after_withdrawal(app, caller, cents)
    assert balance_cents(app, goal["account_number"]) == spare
    assert balance_cents(app, primary(funded)) == FUNDED - cents - spare
    assert check(app)["ok"]


def test_a_round_up_happens_once_per_movement(app, spender):
    caller, goal = spender
    movement = round_up_after_withdrawal(app, caller, 1050)
    for _again in range(3):
        roundups.after_spending(
            caller, movement, currency="USD", stale_after=timedelta(seconds=60)
        )
    assert balance_cents(app, goal["account_number"]) == 50
    with app.app_context():
        ups = get_db()["transactions"].count_documents(
            {"account_number": goal["account_number"], "type": "transfer_in"}
        )
    assert ups == 1


def test_a_transfer_to_another_customer_rounds_up_but_not_one_to_oneself(
    app, client, spender, funded, other_customer
):
    caller, goal = spender
    savings = client.post(
        "/accounts", headers=funded["headers"], json={"kind": "savings"}
    ).get_json()["account_number"]
    for target, cents in (
        (other_customer["account"]["account_number"], 1010),  # rounds up 90
        (savings, 1020),  # the customer's own: no
        (goal["account_number"], 1030),  # into a goal: no
    ):
        movement = movements.transfer(
            caller, TransferOrder(target, cents), currency="USD"
        )
        roundups.after_spending(
            caller, movement, currency="USD", stale_after=timedelta(seconds=60)
        )
    assert balance_cents(app, goal["account_number"]) == 1030 + 90


def test_spending_from_another_account_does_not_round_up(app, client, spender, funded):
    caller, goal = spender
    savings = client.post(
        "/accounts", headers=funded["headers"], json={"kind": "savings"}
    ).get_json()["account_number"]
    fund(app, savings, 5000)
    round_up_after_withdrawal(app, caller, 1234, savings)
    assert balance_cents(app, goal["account_number"]) == 0


def test_a_round_up_without_the_money_is_skipped_silently(app, spender, funded):
    caller, goal = spender
    round_up_after_withdrawal(app, caller, FUNDED - 95)  # 95 left, 95 needed
    assert balance_cents(app, goal["account_number"]) == 95
    assert balance_cents(app, primary(funded)) == 0
    fund(app, primary(funded), 10)
    round_up_after_withdrawal(app, caller, 5)  # 5 left, 95 would be needed
    assert balance_cents(app, goal["account_number"]) == 95
    assert balance_cents(app, primary(funded)) == 5
    assert check(app)["ok"]


def test_no_round_up_into_a_closing_or_closed_goal_or_without_one(
    app, client, spender, funded
):
    caller, goal = spender
    with app.app_context():
        GoalModel().begin_close(ObjectId(goal["id"]), datetime.now(UTC))
    round_up_after_withdrawal(app, caller, 1234)
    assert balance_cents(app, goal["account_number"]) == 0
    closed = client.delete(f"/goals/{goal['id']}", headers=funded["headers"])
    assert closed.status_code == 200
    round_up_after_withdrawal(app, caller, 1234)
    assert balance_cents(app, primary(funded)) == FUNDED - 2 * 1234


def test_a_failing_round_up_never_fails_the_spending(app, spender, monkeypatch):
    caller, goal = spender

    def broken(*args, **kwargs):
        raise RuntimeError("the database hiccupped")

    monkeypatch.setattr(roundups, "run_once", broken)
    round_up_after_withdrawal(app, caller, 1234)  # no exception
    assert balance_cents(app, goal["account_number"]) == 0


def test_withdraw_and_transfers_round_up_over_http(app, client, funded, other_customer):
    goal = open_goal(client, funded, round_up=True, target_amount="0.50")
    spent = client.post("/withdraw", headers=funded["headers"], json={"amount": "3.70"})
    assert spent.status_code == 201
    # The spending's own answer is unchanged: the round-up follows it.
    assert spent.get_json()["balance"] == "996.30"
    sent = client.post(
        "/transfers",
        headers=funded["headers"],
        json={"to_account_number": other_customer["account"]["account_number"],
              "amount": "1.01"},
    )  # fmt: skip
    assert sent.status_code == 201
    shown = client.get(f"/goals/{goal['id']}", headers=funded["headers"]).get_json()
    assert shown["balance"] == "1.29"
    assert shown["status"] == "completed"  # a round-up completes a goal too
    assert balance_cents(app, primary(funded)) == FUNDED - 370 - 30 - 101 - 99


# -- the document -------------------------------------------------------------------


def test_goal_routes_are_documented(client):
    spec = client.get("/openapi.json").get_json()
    for route in ("deposits", "withdrawals"):
        operation = spec["paths"][f"/goals/{{goal_id}}/{route}"]["post"]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation[
            "parameters"
        ]
        assert {"201", "404", "409", "422", "503"} <= set(operation["responses"])
    goal = spec["components"]["schemas"]["Goal"]
    assert goal["properties"]["status"]["enum"] == ["active", "completed", "closed"]
    assert goal["properties"]["target_date"]["format"] == "date"
    listed = {p["name"] for p in spec["paths"]["/goals"]["get"]["parameters"]}
    assert {"limit", "cursor", "status"} <= listed
    kinds = spec["components"]["schemas"]["Account"]["properties"]["kind"]["enum"]
    assert "goal" in kinds
    assert (
        "goal"
        not in spec["components"]["schemas"]["OpenAccount"]["properties"]["kind"][
            "enum"
        ]
    )
    assert set(spec["paths"]["/goals/{goal_id}"]) - {"parameters"} == {
        "get", "patch", "delete",
    }  # fmt: skip


def test_every_goal_query_is_served_by_a_declared_index(app, client, funded):
    """The goal flows, recorded and judged as tests/test_indexes.py judges the
    bank's main flows (the in-memory backend never uses an index)."""
    recording = qr.install(app)
    goal = open_goal(client, funded, target_amount="10.00", round_up=True)
    open_goal(client, funded, name="Second")
    for params in ({}, {"status": "active"}, {"status": "closed"}):
        body = client.get(
            "/goals", headers=funded["headers"], query_string={**params, "limit": 1}
        ).get_json()
        if body["next_cursor"]:
            client.get(
                "/goals",
                headers=funded["headers"],
                query_string={**params, "limit": 1, "cursor": body["next_cursor"]},
            )
    client.get(f"/goals/{goal['id']}", headers=funded["headers"])
    client.patch(f"/goals/{goal['id']}", headers=funded["headers"], json={"name": "N"})
    pay_in(client, funded, goal, "20.00", headers={"Idempotency-Key": "q-1"})
    take_out(client, funded, goal, "1.00")
    client.post("/withdraw", headers=funded["headers"], json={"amount": "1.50"})
    client.get("/accounts", headers=funded["headers"])
    client.delete(f"/goals/{goal['id']}", headers=funded["headers"])
    client.delete(f"/goals/{goal['id']}", headers=funded["headers"])
    database = app.extensions["mongo_db"]._database
    indexes = {
        name: qr.declared_indexes(
            database[name], [("account_number",)] if name == "accounts" else ()
        )
        for name in ("goals", "accounts")
    }
    judged = [q for q in recording.distinct() if q.collection in indexes]
    assert {q.collection for q in judged} == {"goals", "accounts"}
    unserved = [
        q.describe()
        for q in judged
        if q.caller != "app.models.reconciliation.check"
        and qr.serving_index(q, indexes[q.collection]) is None
    ]
    assert unserved == []


def test_opening_a_goal_is_audited(app, client, customer):
    from app.db import get_db

    opened = client.post(
        "/goals", headers=customer["headers"], json={"name": "Audited"}
    ).get_json()
    with app.app_context():
        entry = get_db()["audit_log"].find_one({"action": "goal_opened"})
    assert (entry["actor"], entry["target"]) == ("carol", opened["id"])
    assert entry["details"] == {"account_number": opened["account_number"]}
