"""Blueprint banker: every account and every transaction, filtered and paginated."""

import pytest

from tests.conftest import PASSWORD
from tests.factories import fund, make_account
from tests.test_auth import assert_problem

ROUTES = ["/banker/accounts", "/banker/transactions"]


@pytest.mark.parametrize("path", ROUTES)
def test_banker_routes_need_a_token(client, path):
    assert_problem(client.get(path), 401, "token_missing")


@pytest.mark.parametrize("path", ROUTES)
def test_banker_routes_refuse_a_customer(client, customer, path):
    assert_problem(client.get(path, headers=customer["headers"]), 403, "forbidden")


def register(client, username):
    response = client.post(
        "/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 201
    return response.get_json()


def test_accounts_lists_every_account_with_owner(
    client, banker, customer, other_customer
):
    response = client.get("/banker/accounts", headers=banker["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert [i["owner"]["username"] for i in items] == ["dave", "carol"]
    first = items[1]
    assert set(first) == {
        "account_number",
        "owner",
        "available_balance",
        "balance",
        "currency",
        "status",
        "created_at",
    }
    assert first["owner"] == {"id": customer["user"]["id"], "username": "carol"}
    assert first["balance"] == "0.00" and first["status"] == "active"
    # Bankers hold no accounts.
    assert "bernie" not in {i["owner"]["username"] for i in items}


def test_accounts_filter_by_username_prefix_case_insensitive(client, banker):
    for name in ("alpha", "alphonse", "beta", "alx"):
        register(client, name)
    body = client.get("/banker/accounts?q=ALP", headers=banker["headers"]).get_json()
    assert sorted(i["owner"]["username"] for i in body["items"]) == [
        "alpha",
        "alphonse",
    ]
    body = client.get("/banker/accounts?q=.*", headers=banker["headers"]).get_json()
    assert body["items"] == []


def test_accounts_filter_by_status(client, banker, customer, other_customer, db):
    db["accounts"].update_one(
        {"account_number": other_customer["account"]["account_number"]},
        {"$set": {"status": "frozen"}},
    )
    frozen = client.get(
        "/banker/accounts?status=frozen", headers=banker["headers"]
    ).get_json()
    assert [i["owner"]["username"] for i in frozen["items"]] == ["dave"]
    assert frozen["items"][0]["status"] == "frozen"


def test_accounts_pagination_walks_to_the_end(client, banker):
    for index in range(23):
        register(client, f"user{index:02d}")
    seen, cursor = [], None
    for _ in range(10):
        url = "/banker/accounts?limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=banker["headers"]).get_json()
        seen.extend(i["account_number"] for i in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 23 and len(set(seen)) == 23


@pytest.mark.parametrize(
    "query", ["status=open", "limit=0", "cursor=zz", "q=", "q=" + "a" * 33, "owner=x"]
)
def test_accounts_bad_query_is_422(client, banker, query):
    assert_problem(
        client.get(f"/banker/accounts?{query}", headers=banker["headers"]),
        422,
        "validation_error",
    )


@pytest.fixture
def ledger_data(app, client, customer, other_customer, db):
    carol = customer["account"]["account_number"]
    dave = other_customer["account"]["account_number"]
    savings = make_account(app, db["users"].find_one({"username": "carol"}), "savings")
    fund(app, carol, 1000)
    fund(app, dave, 2000)
    fund(app, savings["account_number"], 3000)
    client.post("/withdraw", headers=customer["headers"], json={"amount": "1.00"})
    return {"carol": carol, "dave": dave, "savings": savings["account_number"]}


def test_transactions_lists_every_posted_entry_with_owner(client, banker, ledger_data):
    body = client.get("/banker/transactions", headers=banker["headers"]).get_json()
    items = body["items"]
    assert [i["amount"] for i in items] == ["1.00", "30.00", "20.00", "10.00"]
    assert items[0]["owner"]["username"] == "carol"
    assert items[2]["owner"]["username"] == "dave"
    assert {"id", "type", "amount", "balance_after", "owner"} <= set(items[0])


@pytest.mark.parametrize(
    "query, amounts",
    [
        ("username=carol", ["1.00", "30.00", "10.00"]),
        ("username=CAROL&type=deposit", ["30.00", "10.00"]),
        ("username=nobody", []),
        ("type=withdrawal", ["1.00"]),
        ("account_number={dave}", ["20.00"]),
        ("account_number={dave}&username=carol", []),
        ("account_number={savings}&username=carol", ["30.00"]),
        ("account_number=0000000000", []),
        ("from=2000-01-01&to=2999-01-01", ["1.00", "30.00", "20.00", "10.00"]),
        ("to=2000-01-01", []),
    ],
)
def test_transactions_filters(client, banker, ledger_data, query, amounts):
    url = "/banker/transactions?" + query.format(**ledger_data)
    response = client.get(url, headers=banker["headers"])
    assert response.status_code == 200, response.get_json()
    assert [i["amount"] for i in response.get_json()["items"]] == amounts


def test_transactions_pagination(client, banker, ledger_data):
    first = client.get(
        "/banker/transactions?limit=3", headers=banker["headers"]
    ).get_json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = client.get(
        f"/banker/transactions?limit=3&cursor={first['next_cursor']}",
        headers=banker["headers"],
    ).get_json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    ids = {i["id"] for i in first["items"] + second["items"]}
    assert len(ids) == 4


@pytest.mark.parametrize(
    "query",
    ["type=fee", "from=nope", "account_number=1", "username=", "limit=1000", "x=1"],
)
def test_transactions_bad_query_is_422(client, banker, query):
    assert_problem(
        client.get(f"/banker/transactions?{query}", headers=banker["headers"]),
        422,
        "validation_error",
    )
