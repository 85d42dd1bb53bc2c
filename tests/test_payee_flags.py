"""The payee rules judge the payee as it was when the money moved: deleting it
before the flagging sweep looks (add, pay, delete) dodges nothing, and a payee
deleted before the payment, or added after it, flags nothing."""

from datetime import timedelta

import pytest
from bson import ObjectId

from app.db import get_db
from tests import faults
from tests.conftest import PAYER_FUNDS

FUNDS = PAYER_FUNDS  # what the conftest's ``payer`` holds


def add_payee(client, who, number: str, name: str) -> dict:
    response = client.post("/payees", headers=who["headers"], json={
        "account_number": number, "name": name, "acknowledge_name_check": True,
    })  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def delete_payee(client, who, payee: dict) -> None:
    response = client.delete(f"/payees/{payee['id']}", headers=who["headers"])
    assert response.status_code == 204


def pay(client, who, body: dict) -> str:
    response = client.post("/transfers", headers=who["headers"], json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["transfer"]["id"]


def flags(client, banker) -> dict[str, list[str]]:
    """Movement id -> rules (the listing runs the flagging sweep first)."""
    response = client.get("/banker/reviews", headers=banker["headers"],
                          query_string={"limit": 100})  # fmt: skip
    assert response.status_code == 200
    return {item["id"]: item["rules"] for item in response.get_json()["items"]}


@pytest.mark.parametrize(
    "name, amount, rules",
    [("dave", "1000.01", ["new_payee"]),
     ("Zed Quinn", "1.00", ["unconfirmed_payee"]),
     ("Zed Quinn", "1500.00", ["new_payee", "unconfirmed_payee"])],
)  # fmt: skip
@pytest.mark.parametrize("by", ["payee_id", "to_account_number"])
def test_deleting_the_payee_before_the_sweep_dodges_no_rule(
    client, payer, other_customer, banker, name, amount, rules, by
):
    number = other_customer["account"]["account_number"]
    payee = add_payee(client, payer, number, name)
    target = {"payee_id": payee["id"]} if by == "payee_id" else {
        "to_account_number": number}  # fmt: skip
    sent = pay(client, payer, {**target, "amount": amount})
    delete_payee(client, payer, payee)
    assert flags(client, banker).get(sent) == rules


def test_a_payee_deleted_and_added_again_is_judged_as_it_was_paid(
    client, payer, other_customer, banker
):
    """Paid as an unconfirmed new payee; deleted and added again with the right
    name before the sweep: the payment still went to the unconfirmed one."""
    number = other_customer["account"]["account_number"]
    first = add_payee(client, payer, number, "Zed Quinn")
    sent = pay(client, payer, {"payee_id": first["id"], "amount": "1500.00"})
    delete_payee(client, payer, first)
    again = add_payee(client, payer, number, "dave")
    assert again["name_check"]["result"] == "match"
    assert flags(client, banker)[sent] == ["new_payee", "unconfirmed_payee"]
    # A payment to the payee as it is now is judged by it.
    later = pay(client, payer, {"payee_id": again["id"], "amount": "1000.01"})
    assert flags(client, banker)[later] == ["new_payee"]


def test_a_payee_deleted_before_the_payment_flags_nothing(
    client, payer, other_customer, banker
):
    number = other_customer["account"]["account_number"]
    payee = add_payee(client, payer, number, "Zed Quinn")
    delete_payee(client, payer, payee)
    sent = pay(client, payer, {"to_account_number": number, "amount": "1500.00"})
    assert sent not in flags(client, banker)


def test_an_old_deleted_payee_is_not_new(app, client, payer, other_customer, banker):
    number = other_customer["account"]["account_number"]
    payee = add_payee(client, payer, number, "dave")
    with app.app_context():
        doc = get_db()["payees"].find_one({"_id": ObjectId(payee["id"])})
        get_db()["payees"].update_one(
            {"_id": doc["_id"]},
            {"$set": {"created_at": doc["created_at"] - timedelta(hours=24)}},
        )
    sent = pay(client, payer, {"payee_id": payee["id"], "amount": "4999.99"})
    delete_payee(client, payer, payee)
    assert sent not in flags(client, banker)


# Keep the payee for the rules, then delete it.
WRITES_OF_A_DELETE = [("payees_deleted", "update_one"), ("payees", "delete_one")]


def test_a_delete_makes_the_listed_writes(app, client, payer, other_customer):
    payee = add_payee(client, payer, other_customer["account"]["account_number"],
                      "dave")  # fmt: skip
    faulty = faults.install(app)
    try:
        delete_payee(client, payer, payee)
    finally:
        faults.uninstall(app, faulty)
    assert faulty.writes == WRITES_OF_A_DELETE


@pytest.mark.parametrize("crash_after", range(1, len(WRITES_OF_A_DELETE) + 1))
def test_a_delete_cut_short_after_any_write_still_judges_the_payment(
    app, client, payer, other_customer, banker, crash_after
):
    """A delete that stops after either write still lets the sweep judge the
    payment by the payee it paid; its retry finishes the delete."""
    number = other_customer["account"]["account_number"]
    payee = add_payee(client, payer, number, "Zed Quinn")
    sent = pay(client, payer, {"payee_id": payee["id"], "amount": "1.00"})
    faulty = faults.install(app, crash_after=crash_after)
    try:
        with pytest.raises(faults.Crash):
            client.delete(f"/payees/{payee['id']}", headers=payer["headers"])
    finally:
        faults.uninstall(app, faulty)
    assert flags(client, banker)[sent] == ["unconfirmed_payee"]
    retry = client.delete(f"/payees/{payee['id']}", headers=payer["headers"])
    deleted = crash_after == len(WRITES_OF_A_DELETE)
    assert retry.status_code == (404 if deleted else 204)
    assert client.get("/payees", headers=payer["headers"]).get_json()["items"] == []
    # Added again after all that: a fresh payee, judged as itself.
    again = add_payee(client, payer, number, "dave")
    later = pay(client, payer, {"payee_id": again["id"], "amount": "1.00"})
    assert later not in flags(client, banker)
