"""Balanced books: customers against the bank's own (system) accounts."""

from app.db import get_db
from tests.factories import fund


def summary(client, banker) -> dict:
    response = client.get("/banker/ledger/summary", headers=banker["headers"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def cash(body: dict) -> str:
    return next(a["balance"] for a in body["system_accounts"] if a["name"] == "cash")


def test_deposits_and_withdrawals_are_booked_against_cash(
    client, customer, other_customer, banker
):
    headers = customer["headers"]
    for path, amount in (("/deposit", "10.00"), ("/withdraw", "2.50")):
        response = client.post(path, headers=headers, json={"amount": amount})
        assert response.status_code == 201
    transfer = client.post(
        "/transfers",
        headers=headers,
        json={"to_account_number": other_customer["account"]["account_number"],
              "amount": "1.25"},
    )  # fmt: skip
    assert transfer.status_code == 201
    body = summary(client, banker)
    assert body["customer_total"] == "7.50"
    assert cash(body) == "-7.50"  # a transfer moves nothing to or from the bank
    assert body["total"] == "0.00"
    # No loan_funds: a disbursement moves no system account (test_loans).
    assert [a["name"] for a in body["system_accounts"]] == [
        "cash", "interest_income", "fees",
    ]  # fmt: skip
    assert body["currency"] == "USD"
    check = client.get("/banker/ledger/check", headers=banker["headers"]).get_json()
    assert check["ok"] is True and check["balanced"] is True


def test_money_that_appears_without_a_contra_unbalances_the_books(
    app, client, customer, banker
):
    """A journal entry of no known kind (money from nowhere) is caught."""
    fund(app, customer["account"]["account_number"], 500)
    with app.app_context():
        get_db()["transactions"].update_many(
            {"type": "deposit"}, {"$set": {"type": "mystery", "contra_account": None}}
        )
    check = client.get("/banker/ledger/check", headers=banker["headers"]).get_json()
    assert check["balanced"] is False and check["ok"] is False
    assert "books_unbalanced" in {p["code"] for p in check["problems"]}
    assert summary(client, banker)["total"] == "5.00"


def test_entries_written_before_contra_accounts_are_booked_by_type(
    app, client, customer, banker
):
    fund(app, customer["account"]["account_number"], 300)
    with app.app_context():
        get_db()["transactions"].update_many({}, {"$unset": {"contra_account": ""}})
    body = summary(client, banker)
    assert cash(body) == "-3.00" and body["total"] == "0.00"


def test_an_applied_but_unposted_deposit_is_booked_too(app, client, customer, banker):
    """Between the commit point and the journal, the balance has moved: so has
    cash (booked from the account's record of the entry)."""
    from bson import ObjectId

    from app.models import ledger, utc_now
    from app.models.account import AccountModel

    with app.app_context():
        account = AccountModel().find_by_number(customer["account"]["account_number"])
        entry = ledger._new_entry(account, "deposit", 700, None, ObjectId(), utc_now())
        ledger._commit(account, entry)  # applied, not journalled
    body = summary(client, banker)
    assert body["customer_total"] == "7.00" and cash(body) == "-7.00"
    assert body["total"] == "0.00"
