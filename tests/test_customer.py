"""Blueprint customer: balance, deposit, withdraw and history."""

import pytest

from tests.factories import balance_cents, fund, make_account
from tests.test_auth import assert_problem

PROTECTED = [
    ("get", "/balance"),
    ("post", "/deposit"),
    ("post", "/withdraw"),
    ("get", "/transactions"),
]


def post_json(client, path, headers, body):
    return client.post(path, headers=headers, json=body)


def post_raw(client, path, headers, text):
    return client.post(
        path, headers=headers, data=text, content_type="application/json"
    )


@pytest.mark.parametrize("method, path", PROTECTED)
def test_customer_routes_need_a_token(client, method, path):
    assert_problem(getattr(client, method)(path), 401, "token_missing")


@pytest.mark.parametrize("method, path", PROTECTED)
def test_customer_routes_refuse_a_banker(client, banker, method, path):
    response = getattr(client, method)(path, headers=banker["headers"], json={})
    assert_problem(response, 403, "forbidden")


def test_balance_of_new_account_is_zero(client, customer):
    response = client.get("/balance", headers=customer["headers"])
    assert response.status_code == 200
    assert response.get_json() == {
        "account_number": customer["account"]["account_number"],
        "balance": "0.00",
        "currency": "USD",
    }


def test_deposit_credits_and_returns_transaction(app, client, customer):
    response = post_json(
        client,
        "/deposit",
        customer["headers"],
        {"amount": "125.50", "description": "salary"},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["balance"] == "125.50"
    assert body["currency"] == "USD"
    txn = body["transaction"]
    assert txn["type"] == "deposit"
    assert txn["amount"] == "125.50"
    assert txn["balance_after"] == "125.50"
    assert txn["description"] == "salary"
    assert txn["account_number"] == customer["account"]["account_number"]
    assert txn["created_at"].endswith("Z")
    assert txn["counterparty_account_number"] is None
    assert balance_cents(app, customer["account"]["account_number"]) == 12550


def test_point_one_plus_point_two_is_exactly_point_three(app, client, customer):
    post_raw(client, "/deposit", customer["headers"], '{"amount": 0.1}')
    response = post_raw(client, "/deposit", customer["headers"], '{"amount": 0.2}')
    assert response.get_json()["balance"] == "0.30"
    assert balance_cents(app, customer["account"]["account_number"]) == 30


@pytest.mark.parametrize(
    "raw, cents",
    [
        ('{"amount": 1}', 100),
        ('{"amount": "1"}', 100),
        ('{"amount": 1.5}', 150),
        ('{"amount": "0.01"}', 1),
        ('{"amount": 1.10}', 110),
        ('{"amount": 1e2}', 10000),
        ('{"amount": 1000000.00}', 100000000),
        ('{"amount": 9999.99}', 999999),
    ],
)
def test_valid_amount_forms_are_exact(app, client, customer, raw, cents):
    response = post_raw(client, "/deposit", customer["headers"], raw)
    assert response.status_code == 201, response.get_json()
    assert balance_cents(app, customer["account"]["account_number"]) == cents


INVALID_AMOUNTS = [
    '{"amount": 0}',
    '{"amount": "0.00"}',
    '{"amount": -5}',
    '{"amount": "-5"}',
    '{"amount": -0}',
    '{"amount": 1.005}',
    '{"amount": "1.005"}',
    '{"amount": 0.001}',
    '{"amount": 1.000}',
    '{"amount": "10.500"}',
    '{"amount": true}',
    '{"amount": false}',
    '{"amount": null}',
    '{"amount": ""}',
    '{"amount": " "}',
    '{"amount": "abc"}',
    '{"amount": "1,00"}',
    '{"amount": "1e2"}',
    '{"amount": " 10"}',
    '{"amount": "NaN"}',
    '{"amount": "Infinity"}',
    '{"amount": "١٢"}',
    '{"amount": [10]}',
    '{"amount": {"value": 10}}',
    '{"amount": 1000000.01}',
    '{"amount": 1e400}',
    '{"amount": 1e-400}',
    '{"amount": "99999999999999999999999999999999999999"}',
    "{}",
    '{"amount": 10, "unknown": 1}',
    '{"amount": 10, "description": "' + "x" * 141 + '"}',
    '{"amount": 10, "description": 5}',
    '{"amount": 10, "account_number": "123"}',
    "[]",
    '"10"',
]


@pytest.mark.parametrize("path", ["/deposit", "/withdraw"])
@pytest.mark.parametrize("raw", INVALID_AMOUNTS)
def test_invalid_money_input_returns_422_and_moves_nothing(
    app, client, customer, db, path, raw
):
    fund(app, customer["account"]["account_number"], 5000)
    before = db["transactions"].count_documents({})
    response = post_raw(client, path, customer["headers"], raw)
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"]
    assert balance_cents(app, customer["account"]["account_number"]) == 5000
    assert db["transactions"].count_documents({}) == before


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_raw_nan_and_infinity_tokens_are_invalid_json(client, customer, token):
    response = post_raw(
        client, "/deposit", customer["headers"], f'{{"amount": {token}}}'
    )
    assert_problem(response, 400, "invalid_json")


def test_withdraw_debits(app, client, customer):
    fund(app, customer["account"]["account_number"], 10000)
    response = post_json(client, "/withdraw", customer["headers"], {"amount": 30.25})
    assert response.status_code == 201
    body = response.get_json()
    assert body["balance"] == "69.75"
    assert body["transaction"]["type"] == "withdrawal"
    assert body["transaction"]["amount"] == "30.25"
    assert body["transaction"]["balance_after"] == "69.75"
    assert balance_cents(app, customer["account"]["account_number"]) == 6975


def test_withdraw_whole_balance_leaves_zero(app, client, customer):
    fund(app, customer["account"]["account_number"], 2000)
    response = post_json(client, "/withdraw", customer["headers"], {"amount": "20.00"})
    assert response.status_code == 201
    assert response.get_json()["balance"] == "0.00"


def test_withdraw_more_than_balance_returns_409_and_changes_nothing(
    app, client, customer, db
):
    fund(app, customer["account"]["account_number"], 2000)
    response = post_json(client, "/withdraw", customer["headers"], {"amount": "50"})
    body = assert_problem(response, 409, "insufficient_funds")
    assert body["detail"] == "Insufficient funds: balance 20.00, requested 50.00"
    assert balance_cents(app, customer["account"]["account_number"]) == 2000
    history = client.get("/transactions", headers=customer["headers"]).get_json()
    assert [t["type"] for t in history["items"]] == ["deposit"]
    # The refusal is journalled as rejected, never as a movement.
    rejected = db["transactions"].find_one({"status": "rejected"})
    assert rejected["reason"] == "insufficient_funds"


@pytest.mark.parametrize(
    "status, code", [("frozen", "account_frozen"), ("closed", "account_closed")]
)
@pytest.mark.parametrize("path", ["/deposit", "/withdraw"])
def test_inactive_account_refuses_money_movement(
    app, client, customer, db, status, code, path
):
    number = customer["account"]["account_number"]
    fund(app, number, 1000)
    db["accounts"].update_one({"account_number": number}, {"$set": {"status": status}})
    assert_problem(
        post_json(client, path, customer["headers"], {"amount": 1}), 409, code
    )
    assert balance_cents(app, number) == 1000


def test_account_number_selects_own_second_account(app, client, customer, db):
    user = db["users"].find_one({"username": "carol"})
    savings = make_account(app, user, kind="savings")
    response = post_json(
        client,
        "/deposit",
        customer["headers"],
        {"amount": 7, "account_number": savings["account_number"]},
    )
    assert response.status_code == 201
    assert balance_cents(app, savings["account_number"]) == 700
    assert balance_cents(app, customer["account"]["account_number"]) == 0
    balance = client.get(
        f"/balance?account_number={savings['account_number']}",
        headers=customer["headers"],
    )
    assert balance.get_json()["balance"] == "7.00"


@pytest.mark.parametrize("path", ["/deposit", "/withdraw"])
def test_other_customers_account_is_404_like_a_missing_one(
    app, client, customer, other_customer, path
):
    theirs = other_customer["account"]["account_number"]
    fund(app, theirs, 1000)
    foreign = post_json(
        client, path, customer["headers"], {"amount": 1, "account_number": theirs}
    )
    missing = post_json(
        client, path, customer["headers"], {"amount": 1, "account_number": "0000000000"}
    )
    a = assert_problem(foreign, 404, "account_not_found")
    b = assert_problem(missing, 404, "account_not_found")
    assert a["detail"] == b["detail"]
    assert balance_cents(app, theirs) == 1000


def test_balance_of_other_customers_account_is_404(client, customer, other_customer):
    theirs = other_customer["account"]["account_number"]
    response = client.get(
        f"/balance?account_number={theirs}", headers=customer["headers"]
    )
    assert_problem(response, 404, "account_not_found")


@pytest.mark.parametrize(
    "query", ["account_number=12", "account_number=abcdefghij", "unknown=1"]
)
def test_balance_bad_query_is_422(client, customer, query):
    assert_problem(
        client.get(f"/balance?{query}", headers=customer["headers"]),
        422,
        "validation_error",
    )


def test_lost_primary_account_is_reopened_on_first_use(client, customer, db):
    # A crash between inserting the user and the account leaves no account; the
    # next request repairs it rather than failing forever.
    db["accounts"].delete_many({})
    response = client.get("/balance", headers=customer["headers"])
    assert response.status_code == 200
    assert response.get_json()["balance"] == "0.00"
    assert db["accounts"].count_documents({}) == 1


# -- history -----------------------------------------------------------------


def test_transactions_lists_own_entries_newest_first(
    app, client, customer, other_customer
):
    number = customer["account"]["account_number"]
    for amount in ("1.00", "2.00", "3.00"):
        post_json(client, "/deposit", customer["headers"], {"amount": amount})
    post_json(client, "/withdraw", customer["headers"], {"amount": "0.50"})
    fund(app, other_customer["account"]["account_number"], 999)
    response = client.get("/transactions", headers=customer["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["next_cursor"] is None
    assert [t["amount"] for t in body["items"]] == ["0.50", "3.00", "2.00", "1.00"]
    assert [t["type"] for t in body["items"]][0] == "withdrawal"
    assert {t["account_number"] for t in body["items"]} == {number}
    assert set(body["items"][0]) == {
        "id",
        "account_number",
        "type",
        "amount",
        "balance_after",
        "currency",
        "description",
        "counterparty_account_number",
        "transfer_id",
        "created_at",
    }


def test_transactions_pagination_walks_to_the_end_without_gaps(app, client, customer):
    number = customer["account"]["account_number"]
    for cents in range(1, 48):
        fund(app, number, cents)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/transactions?limit=10" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=customer["headers"]).get_json()
        pages += 1
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == 47
    assert len({t["id"] for t in seen}) == 47
    amounts = [int(t["amount"].replace(".", "")) for t in seen]
    assert amounts == list(range(47, 0, -1))


def test_transactions_default_and_max_limit(app, client, customer):
    number = customer["account"]["account_number"]
    for _ in range(25):
        fund(app, number, 100)
    body = client.get("/transactions", headers=customer["headers"]).get_json()
    assert len(body["items"]) == 20 and body["next_cursor"]
    body = client.get("/transactions?limit=100", headers=customer["headers"]).get_json()
    assert len(body["items"]) == 25 and body["next_cursor"] is None


def test_transactions_filters_by_type_and_account(app, client, customer, db):
    user = db["users"].find_one({"username": "carol"})
    savings = make_account(app, user, kind="savings")
    fund(app, customer["account"]["account_number"], 500)
    fund(app, savings["account_number"], 700)
    post_json(client, "/withdraw", customer["headers"], {"amount": 1})
    everything = client.get("/transactions", headers=customer["headers"]).get_json()
    assert len(everything["items"]) == 3
    deposits = client.get(
        "/transactions?type=deposit", headers=customer["headers"]
    ).get_json()
    assert [t["type"] for t in deposits["items"]] == ["deposit", "deposit"]
    only_savings = client.get(
        f"/transactions?account_number={savings['account_number']}",
        headers=customer["headers"],
    ).get_json()
    assert [t["amount"] for t in only_savings["items"]] == ["7.00"]


def test_transactions_filter_on_other_customers_account_is_404(
    client, customer, other_customer
):
    theirs = other_customer["account"]["account_number"]
    response = client.get(
        f"/transactions?account_number={theirs}", headers=customer["headers"]
    )
    assert_problem(response, 404, "account_not_found")


def test_transactions_date_filters(app, client, customer, db):
    from datetime import UTC, datetime

    number = customer["account"]["account_number"]
    for _ in range(3):
        fund(app, number, 100)
    stamps = [
        datetime(2024, 1, 10, 12, 0, tzinfo=UTC),
        datetime(2024, 1, 11, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2024, 1, 12, 0, 0, tzinfo=UTC),
    ]
    for entry, stamp in zip(
        db["transactions"].find({}, sort=[("_id", 1)]), stamps, strict=True
    ):
        db["transactions"].update_one(
            {"_id": entry["_id"]}, {"$set": {"created_at": stamp}}
        )

    def count(query):
        response = client.get(f"/transactions?{query}", headers=customer["headers"])
        assert response.status_code == 200, response.get_json()
        return len(response.get_json()["items"])

    assert count("from=2024-01-11") == 2
    assert count("to=2024-01-11") == 2  # a date-only "to" includes the whole day
    assert count("from=2024-01-11&to=2024-01-11") == 1
    assert count("from=2024-01-10T12:00:00Z&to=2024-01-10T12:00:00Z") == 1
    assert count("to=2024-01-10T11:59:59") == 0  # zone-less means UTC
    assert count("from=2024-01-12T01:00:00%2B01:00") == 1
    assert count("from=2024-01-13") == 0


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=2.5",
        "limit=",
        "cursor=garbage",
        "cursor=" + "A" * 80,
        "cursor=MTIzOnh5eg",
        "type=refund",
        "type=",
        "from=yesterday",
        "from=2024-13-01",
        "to=2024-02-30",
        "from=2024-02-01&to=2024-01-01",
        "sort=asc",
        "account_number=12345",
    ],
)
def test_transactions_bad_query_is_422(client, customer, query):
    response = client.get(f"/transactions?{query}", headers=customer["headers"])
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"]
