"""Accounts, transfers, Idempotency-Key and reconciliation, over HTTP."""

from datetime import timedelta

import pytest

from app.db import get_db
from app.models.account import AccountModel
from tests.factories import balance_cents, fund
from tests.test_auth import assert_problem


def open_account(client, customer, kind="savings"):
    response = client.post(
        "/accounts", headers=customer["headers"], json={"kind": kind}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def set_status(app, number, status):
    """Freeze or close an account directly (the banker routes come later)."""
    with app.app_context():
        get_db()["accounts"].update_one(
            {"account_number": number}, {"$set": {"status": status}}
        )


# -- accounts -----------------------------------------------------------------


def test_open_account_returns_the_account_object(client, customer):
    body = open_account(client, customer)
    assert set(body) == {
        "account_number",
        "kind",
        "primary",
        "status",
        "balance",
        "available_balance",
        "currency",
        "created_at",
    }
    assert body["kind"] == "savings" and body["primary"] is False
    assert body["available_balance"] == "0.00"
    assert body["status"] == "active" and body["balance"] == "0.00"
    assert len(body["account_number"]) == 10 and body["created_at"].endswith("Z")


def test_list_accounts_shows_only_own_newest_first(client, customer, other_customer):
    savings = open_account(client, customer)
    open_account(client, other_customer)
    body = client.get("/accounts", headers=customer["headers"]).get_json()
    numbers = [a["account_number"] for a in body["items"]]
    assert numbers == [savings["account_number"], customer["account"]["account_number"]]
    assert (
        body["items"][1]["primary"] is True and body["items"][1]["kind"] == "checking"
    )
    assert body["next_cursor"] is None


def test_list_accounts_paginates(client, customer):
    for _ in range(3):
        open_account(client, customer)
    first = client.get("/accounts?limit=2", headers=customer["headers"]).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = client.get(
        f"/accounts?limit=2&cursor={first['next_cursor']}", headers=customer["headers"]
    ).get_json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None
    seen = [a["account_number"] for a in first["items"] + second["items"]]
    assert len(set(seen)) == 4


def test_get_account_by_number(client, customer):
    number = customer["account"]["account_number"]
    response = client.get(f"/accounts/{number}", headers=customer["headers"])
    assert response.status_code == 200
    assert response.get_json()["account_number"] == number


@pytest.mark.parametrize("whose", ["other", "missing", "malformed"])
def test_get_account_answers_404_alike_for_others_and_missing(
    client, customer, other_customer, whose
):
    number = {
        "other": other_customer["account"]["account_number"],
        "missing": "0000000000",
        "malformed": "12ab",
    }[whose]
    response = client.get(f"/accounts/{number}", headers=customer["headers"])
    body = assert_problem(response, 404, "account_not_found")
    assert body["detail"] == "Account not found."


@pytest.mark.parametrize(
    "payload", [{}, {"kind": "brokerage"}, {"kind": "savings", "primary": True}]
)
def test_open_account_validates_kind(client, customer, payload):
    response = client.post("/accounts", headers=customer["headers"], json=payload)
    assert_problem(response, 422, "validation_error")
    body = client.get("/accounts", headers=customer["headers"]).get_json()
    assert len(body["items"]) == 1


def test_open_account_stops_at_the_limit(app, client, customer):
    app.config["MAX_ACCOUNTS_PER_CUSTOMER"] = 2
    open_account(client, customer)
    response = client.post(
        "/accounts", headers=customer["headers"], json={"kind": "savings"}
    )
    assert_problem(response, 409, "account_limit_reached")


@pytest.mark.parametrize("path", ["/accounts", "/transfers"])
def test_account_routes_need_a_customer(client, banker, path):
    assert_problem(client.post(path, json={}), 401, "token_missing")
    assert_problem(
        client.post(path, headers=banker["headers"], json={}), 403, "forbidden"
    )


def test_deposit_and_withdraw_on_a_named_own_account(app, client, customer):
    savings = open_account(client, customer)["account_number"]
    headers = customer["headers"]
    deposit = client.post(
        "/deposit", headers=headers, json={"amount": "7.00", "account_number": savings}
    )
    assert deposit.status_code == 201
    assert deposit.get_json()["transaction"]["account_number"] == savings
    client.post(
        "/withdraw", headers=headers, json={"amount": "2.00", "account_number": savings}
    )
    assert balance_cents(app, savings) == 500
    assert balance_cents(app, customer["account"]["account_number"]) == 0
    balance = client.get(f"/balance?account_number={savings}", headers=headers)
    assert balance.get_json()["balance"] == "5.00"


# -- transfers ----------------------------------------------------------------


def transfer(client, customer, to, amount="30.00", **extra):
    body = {"to_account_number": to, "amount": amount, **extra}
    return client.post("/transfers", headers=customer["headers"], json=body)


def test_transfer_moves_money_and_records_both_legs(
    app, client, customer, other_customer
):
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 10000)
    response = transfer(client, customer, theirs, description="rent")
    assert response.status_code == 201
    body = response.get_json()
    assert body["balance"] == "70.00" and body["currency"] == "USD"
    moved = body["transfer"]
    assert moved["from_account_number"] == mine
    assert moved["to_account_number"] == theirs
    assert moved["amount"] == "30.00" and moved["description"] == "rent"
    assert balance_cents(app, mine) == 7000 and balance_cents(app, theirs) == 3000

    (out_leg,) = [
        t
        for t in client.get("/transactions", headers=customer["headers"]).get_json()[
            "items"
        ]
        if t["type"] == "transfer_out"
    ]
    (in_leg,) = client.get(
        "/transactions", headers=other_customer["headers"]
    ).get_json()["items"]
    assert out_leg["transfer_id"] == in_leg["transfer_id"] == moved["id"]
    assert out_leg["counterparty_account_number"] == theirs
    assert in_leg["counterparty_account_number"] == mine
    assert in_leg["type"] == "transfer_in" and in_leg["amount"] == "30.00"
    assert out_leg["balance_after"] == "70.00" and in_leg["balance_after"] == "30.00"


def test_transfer_between_own_accounts(app, client, customer):
    mine = customer["account"]["account_number"]
    savings = open_account(client, customer)["account_number"]
    fund(app, mine, 5000)
    response = transfer(client, customer, mine, from_account_number=savings)
    assert_problem(response, 409, "insufficient_funds")
    assert transfer(client, customer, savings).status_code == 201
    back = transfer(client, customer, mine, amount="10.00", from_account_number=savings)
    assert back.status_code == 201 and back.get_json()["balance"] == "20.00"
    assert balance_cents(app, mine) == 3000 and balance_cents(app, savings) == 2000


def test_banker_sees_both_legs(app, client, customer, other_customer, banker):
    fund(app, customer["account"]["account_number"], 10000)
    transfer(client, customer, other_customer["account"]["account_number"])
    items = client.get(
        "/banker/transactions?type=transfer_out", headers=banker["headers"]
    ).get_json()["items"]
    legs = client.get(
        "/banker/transactions?type=transfer_in", headers=banker["headers"]
    ).get_json()["items"]
    assert len(items) == len(legs) == 1
    assert items[0]["owner"]["username"] == "carol"
    assert legs[0]["owner"]["username"] == "dave"


@pytest.mark.parametrize("same", ["explicit", "defaulted"])
def test_transfer_to_the_same_account_is_422(app, client, customer, same):
    mine = customer["account"]["account_number"]
    fund(app, mine, 10000)
    extra = {"from_account_number": mine} if same == "explicit" else {}
    response = transfer(client, customer, mine, **extra)
    body = assert_problem(response, 422, "validation_error")
    assert "to_account_number" in body["errors"]
    assert balance_cents(app, mine) == 10000


@pytest.mark.parametrize("which", ["source_not_mine", "target_missing"])
def test_transfer_with_unknown_accounts_is_404(
    app, client, customer, other_customer, which
):
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 10000)
    fund(app, theirs, 10000)
    if which == "source_not_mine":
        response = transfer(client, customer, mine, from_account_number=theirs)
    else:
        response = transfer(client, customer, "1234567897")
    assert_problem(response, 404, "account_not_found")
    assert balance_cents(app, mine) == balance_cents(app, theirs) == 10000


def test_transfer_over_the_balance_is_409_and_moves_nothing(
    app, client, customer, other_customer
):
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 1000)
    body = assert_problem(transfer(client, customer, theirs), 409, "insufficient_funds")
    assert body["detail"] == "Insufficient funds: balance 10.00, requested 30.00"
    assert balance_cents(app, mine) == 1000 and balance_cents(app, theirs) == 0
    with app.app_context():
        account = AccountModel().find_by_number(theirs)
        legs = list(get_db()["transactions"].find({"type": {"$regex": "^transfer"}}))
    assert account["holds"] == [] and account["pending_entries"] == []
    assert {leg["status"] for leg in legs} == {"rejected"}


@pytest.mark.parametrize("side", ["source", "target"])
@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_transfer_refused_by_a_frozen_or_closed_side(
    app, client, customer, other_customer, side, status
):
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 10000)
    set_status(app, mine if side == "source" else theirs, status)
    body = assert_problem(transfer(client, customer, theirs), 409, f"account_{status}")
    whose = "receiving account" if side == "target" else "account"
    assert body["detail"] == f"The {whose} is {status}."
    assert balance_cents(app, mine) == 10000 and balance_cents(app, theirs) == 0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"amount": "1.00"}, "to_account_number"),
        ({"amount": "1.00", "to_account_number": "123"}, "to_account_number"),
        ({"amount": "0", "to_account_number": "1234567897"}, "amount"),
        ({"amount": "1.005", "to_account_number": "1234567897"}, "amount"),
        ({"amount": "1.00", "to_account_number": "1234567897", "x": 1}, "x"),
        (
            {
                "amount": "1.00",
                "to_account_number": "1234567897",
                "from_account_number": 5,
            },
            "from_account_number",
        ),
    ],
)
def test_transfer_validation(client, customer, payload, field):
    response = client.post("/transfers", headers=customer["headers"], json=payload)
    body = assert_problem(response, 422, "validation_error")
    assert field in body["errors"]


# -- Idempotency-Key ----------------------------------------------------------


def keyed(customer, key="key-1"):
    return {**customer["headers"], "Idempotency-Key": key}


def test_replay_returns_the_first_response_byte_for_byte(app, client, customer):
    number = customer["account"]["account_number"]
    first = client.post("/deposit", headers=keyed(customer), json={"amount": "5.00"})
    assert first.status_code == 201 and "Idempotency-Replayed" not in first.headers
    again = client.post(
        "/deposit",
        headers=keyed(customer),
        data='{ "amount" : "5.00" }',  # the same JSON, written differently
        content_type="application/json",
    )
    assert again.status_code == 201
    assert again.data == first.data
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert balance_cents(app, number) == 500


def test_a_refusal_is_replayed_too(app, client, customer):
    number = customer["account"]["account_number"]
    first = client.post("/withdraw", headers=keyed(customer), json={"amount": "5.00"})
    assert_problem(first, 409, "insufficient_funds")
    fund(app, number, 1000)
    again = client.post("/withdraw", headers=keyed(customer), json={"amount": "5.00"})
    assert again.status_code == 409 and again.data == first.data
    assert again.headers["Idempotency-Replayed"] == "true"
    assert balance_cents(app, number) == 1000


@pytest.mark.parametrize(
    "second_path, second_body",
    [
        ("/deposit", {"amount": "6.00"}),
        ("/deposit", {"amount": 5}),  # a number is not the string "5.00"
        ("/withdraw", {"amount": "5.00"}),
    ],
)
def test_same_key_with_another_request_is_422(
    app, client, customer, second_path, second_body
):
    number = customer["account"]["account_number"]
    fund(app, number, 10000)
    client.post("/deposit", headers=keyed(customer), json={"amount": "5.00"})
    response = client.post(second_path, headers=keyed(customer), json=second_body)
    assert_problem(response, 422, "idempotency_key_reused")
    assert balance_cents(app, number) == 10500


def test_keys_are_scoped_to_the_user(app, client, customer, other_customer):
    for who in (customer, other_customer):
        response = client.post("/deposit", headers=keyed(who), json={"amount": "5.00"})
        assert response.status_code == 201
        assert "Idempotency-Replayed" not in response.headers
    assert balance_cents(app, other_customer["account"]["account_number"]) == 500


def claim_as_if_running(app, customer, body):
    """Claim the key exactly as a request with ``body`` still running would."""
    from app.idempotency import _fingerprint
    from app.models.idempotency import IdempotencyModel

    with app.test_request_context("/deposit", method="POST", json=body):
        user = AccountModel().find_by_number(customer["account"]["account_number"])
        IdempotencyModel().claim(
            user["user_id"], "key-1", _fingerprint(), timedelta(days=1)
        )


def test_a_request_still_running_is_409(app, client, customer):
    claim_as_if_running(app, customer, {"amount": "5.00"})
    response = client.post("/deposit", headers=keyed(customer), json={"amount": "5.00"})
    assert_problem(response, 409, "idempotency_in_progress")
    assert response.headers["Retry-After"] == "1"
    other = client.post("/deposit", headers=keyed(customer), json={"amount": "6.00"})
    assert_problem(other, 422, "idempotency_key_reused")
    assert balance_cents(app, customer["account"]["account_number"]) == 0


def test_an_expired_key_counts_as_new(app, client, customer):
    number = customer["account"]["account_number"]
    client.post("/deposit", headers=keyed(customer), json={"amount": "5.00"})
    with app.app_context():
        keys = get_db()["idempotency_keys"]
        record = keys.find_one({})
        keys.update_one(
            {"_id": record["_id"]}, {"$set": {"expires_at": record["created_at"]}}
        )
    again = client.post("/deposit", headers=keyed(customer), json={"amount": "5.00"})
    assert again.status_code == 201 and "Idempotency-Replayed" not in again.headers
    assert balance_cents(app, number) == 1000


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_key_is_422_and_moves_nothing(app, client, customer, key):
    response = client.post(
        "/deposit",
        headers={**customer["headers"], "Idempotency-Key": key},
        json={"amount": "5.00"},
    )
    body = assert_problem(response, 422, "validation_error")
    assert "Idempotency-Key" in body["errors"]
    assert balance_cents(app, customer["account"]["account_number"]) == 0


def test_a_transfer_replay_moves_nothing(app, client, customer, other_customer):
    mine = customer["account"]["account_number"]
    theirs = other_customer["account"]["account_number"]
    fund(app, mine, 10000)
    body = {"to_account_number": theirs, "amount": "30.00"}
    first = client.post("/transfers", headers=keyed(customer), json=body)
    again = client.post("/transfers", headers=keyed(customer), json=body)
    assert first.status_code == again.status_code == 201
    assert again.data == first.data
    assert balance_cents(app, mine) == 7000 and balance_cents(app, theirs) == 3000


# -- reconciliation -----------------------------------------------------------


def test_banker_ledger_check_reports_ok(app, client, customer, other_customer, banker):
    fund(app, customer["account"]["account_number"], 10000)
    transfer(client, customer, other_customer["account"]["account_number"])
    response = client.get("/banker/ledger/check", headers=banker["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["problems"] == []
    assert body["accounts"] == 2 and body["entries"] == 3 and body["transfers"] == 1
    assert body["total_balance"] == "100.00" and body["currency"] == "USD"


def test_ledger_check_needs_a_banker(client, customer):
    assert_problem(client.get("/banker/ledger/check"), 401, "token_missing")
    response = client.get("/banker/ledger/check", headers=customer["headers"])
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(
    "raw, status",
    [("not json", 400), ('[{"amount": "5.00"}]', 422), ('{"amount": [1, 2]}', 422)],
)
def test_bad_bodies_are_answered_once_and_replayed(app, client, customer, raw, status):
    def send():
        return client.post(
            "/deposit",
            headers=keyed(customer),
            data=raw,
            content_type="application/json",
        )

    first = send()
    assert first.status_code == status
    again = send()
    assert again.data == first.data and again.headers["Idempotency-Replayed"] == "true"
    other = client.post("/deposit", headers=keyed(customer), json={"amount": "5.00"})
    assert_problem(other, 422, "idempotency_key_reused")
    assert balance_cents(app, customer["account"]["account_number"]) == 0


def test_a_keyed_request_leaves_nothing_behind_for_the_next(app, client, customer, db):
    """With an app context already pushed (the db fixture), g outlives a request:
    the movement id of a keyed request must not leak into the next one."""
    keyed_response = client.post(
        "/deposit", headers=keyed(customer), json={"amount": 1}
    )
    plain = client.post("/deposit", headers=customer["headers"], json={"amount": 2})
    assert keyed_response.status_code == plain.status_code == 201
    assert balance_cents(app, customer["account"]["account_number"]) == 300
